use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pgchaos::cli::Cli::parse();
    pgchaos::app::main(cli).into()
}
