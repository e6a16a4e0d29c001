fn main() -> std::process::ExitCode {
    // One rustls crypto provider for the whole process: mysql_async builds its ClientConfig
    // with the process default, which panics if the dependency graph ever enables a second
    // provider (aws-lc-rs) and none is installed. Err only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    mysql_pool_exporter::cli::main()
}
