/// mimalloc instead of the system's allocator: a policy replay spent a fifth of its time in glibc's malloc and
/// free (`PERF=1 scripts/bench.sh --replay`), and the request path allocates as much for its size.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
