"""Numerical building blocks shared by the descriptions: integrators, tridiagonal Radau, threads."""
