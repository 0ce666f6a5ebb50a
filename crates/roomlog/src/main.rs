use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = roomlog::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("roomlog: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(roomlog::cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("roomlog: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
