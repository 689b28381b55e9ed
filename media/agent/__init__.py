"""The installer agent (POSIX sh) shipped inside the boot environment."""
