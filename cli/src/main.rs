//! The `pulse` binary: Pulse's command with its built-in jobs (see the `pulse_cli` library).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pulse_cli::main()
}
