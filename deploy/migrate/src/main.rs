//! `showroom-migrate`: the migrations as their own step (see `showroom_migrate`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match showroom_migrate::run().await {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("showroom-migrate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
