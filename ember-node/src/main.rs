//! `ember-server`: parses flags, builds the production `Env` and runs the node.

use clap::Parser;
use ember_node::ServerConfig;

#[global_allocator]
static ALLOCATOR: ember_node::alloc::Counting = ember_node::alloc::Counting;

fn main() {
    ember_node::alloc::install();
    ember_node::alloc::tune_and_restart();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    // A panic is a bug. Unwinding would kill one task and could leave a shard's store taken
    // for ever (every later command on that shard would hang); crash loudly instead.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
    let config = ServerConfig::parse();
    let env = ember_net::Env::production(None);
    let result = ember_net::run_production(env.clone(), move |env| async move {
        let (started, accept) = ember_node::server::start(env.clone(), config).await?;
        // Tests and scripts read this line to learn the port when started with --port 0.
        println!("ember listening on {}", started.addr);
        let shared = started.shared.clone();
        env.clone().spawn(async move {
            // SIGINT or SIGTERM: stop as SHUTDOWN does (saving if a schedule is set).
            wait_for_signal().await;
            tracing::info!("signal received");
            let options = ember_node::cmd::persistence::ShutdownOptions {
                save: None,
                force: true,
            };
            let _ = ember_node::server::shutdown(env, shared, options).await;
        });
        accept.await
    });
    if let Err(error) = result {
        eprintln!("ember-server: {error}");
        std::process::exit(1);
    }
}

async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
