#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = smartauth::cli::parse();
    match smartauth::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smartauth: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
