//! Empty: cargo resolves a package's `[build-dependencies]`, and so pins their features on
//! the host, only if the package has a build script.

fn main() {}
