"""The package version, in the lowest layer so that run records can name it."""
VERSION = "0.1.0"
