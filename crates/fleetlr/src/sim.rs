//! `fleetlr sim`: serve the simulated Defender API until interrupted.

use anyhow::Context;
use fleetlr_sim::{Scenario, SimArgs, TlsMaterial};
use std::process::ExitCode;

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let scenario = match &args.scenario {
            Some(path) => fleetlr_sim::load_scenario(path)?,
            None => Scenario::default(),
        };
        let tls = TlsMaterial::load_or_generate(&args.tls_dir)
            .with_context(|| format!("preparing TLS material in {}", args.tls_dir.display()))?;
        let sim = fleetlr_sim::spawn(args.clone(), scenario, &tls).await?;
        let base = sim.base_url();
        println!(
            "fleetlr simulator listening on {base} ({} devices)",
            sim.devices().len()
        );
        println!(
            "  trust this CA:   {}",
            args.tls_dir.join("ca.pem").display()
        );
        println!(
            "  token endpoint:  {base}/{}/oauth2/v2.0/token",
            sim.tenant_id()
        );
        println!("  client id:       {}", sim.client_id());
        println!(
            "  client secret:   {} (a simulator credential; change with --client-secret)",
            sim.client_secret()
        );
        println!("  scope:           {}", sim.scope());
        println!("  introspection:   {base}/_sim/stats");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        sim.shutdown();
        Ok(ExitCode::SUCCESS)
    })
}
