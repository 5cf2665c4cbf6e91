"""The report layer: measurements on sweep files, figures and docs/results.md."""
