//! Files: atomic replace (temp file in the same directory, fsync, rename), modes
//! (octal and symbolic, as Ansible reads them), ownership, backups.
