//! Test-only package: black-box tests of the `mxmod` binary (`it/`) and trybuild UI tests of the macros (`ui/`).
