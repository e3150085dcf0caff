//! `cr-verify` (being written, issue 2).
fn main() -> std::process::ExitCode {
    eprintln!("cr-verify: not implemented yet");
    std::process::ExitCode::from(2)
}
