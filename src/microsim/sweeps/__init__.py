"""The sweep layer: configs (YAML), parallel execution, HDF5 storage, reading files back as data,
and their inspection."""
