fn main() -> std::process::ExitCode {
    mysql_pool_exporter::cli::main()
}
