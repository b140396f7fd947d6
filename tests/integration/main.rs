//! Integration tests: the real binary against real files, configs and child processes.
//! One test binary, so the crate links once; one module per capability.

mod support;

mod cli;
mod comfort;
mod concurrency;
mod config;
mod docs;
mod events;
mod exec;
mod explain;
mod files;
mod fleet;
mod ftp;
mod ftp_proftpd;
mod ftp_support;
mod ftp_vsftpd;
mod fuzzed;
mod hostile;
mod journal;
mod lifecycle;
mod limits;
mod md5;
mod notify;
mod oauth2;
mod outputs;
mod pg_support;
mod properties;
mod scan;
mod serve;
mod servers;
mod sha256;
mod sidecar_forms;
mod upload_dir;
