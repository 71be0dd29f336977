#[tokio::main]
async fn main() {
    std::process::exit(s3gate::run_cli().await);
}
