"""The run directory on disk: its layout, atomic files and checksums, the lock,
the TensorBoard locations, and reading a sweep's jobs."""
