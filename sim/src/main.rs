//! `wxgate-sim`: run the WeChat simulator (and optionally the echo upstream) standalone.
//!
//! ```text
//! wxgate-sim --listen 127.0.0.1:9200 --seed-demo --echo 127.0.0.1:9000
//! curl -s -XPOST 127.0.0.1:9200/_sim/login_code -d '{"appid":"wx0000000000000001","user":"alice"}'
//! curl -s '127.0.0.1:9200/sns/jscode2session?appid=wx0000000000000001&secret=demo-mp-secret&js_code=CODE&grant_type=authorization_code'
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: wxgate-sim [--listen ADDR] [--seed-demo] [--echo ADDR]

  --listen ADDR   where the simulator listens (default 127.0.0.1:9200)
  --seed-demo     create the demo apps (wx0000000000000001..4), users alice, bob, and the
                  WeCom corp ww0000000000000001 (agent 1000002, members zhangsan, lisi)
  --echo ADDR     also run the demo echo upstream on ADDR";

struct Args {
    listen: SocketAddr,
    seed_demo: bool,
    echo: Option<SocketAddr>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9200)),
        seed_demo: false,
        echo: None,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => parsed.listen = address(&arg, args.next())?,
            "--echo" => parsed.echo = Some(address(&arg, args.next())?),
            "--seed-demo" => parsed.seed_demo = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

fn address(flag: &str, value: Option<String>) -> Result<SocketAddr, String> {
    let value = value.ok_or_else(|| format!("{flag} needs an address"))?;
    value
        .parse()
        .map_err(|e| format!("{flag} {value}: {e} (expected IP:PORT)"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("wxgate-sim: {message}");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let sim = wxgate_sim::Simulator::new();
    if args.seed_demo {
        sim.seed_demo();
    }
    let sim_handle = match sim.serve(args.listen).await {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("wxgate-sim: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("wxgate-sim: WeChat simulator on {}", sim_handle.base_url());
    let _echo_handle = match args.echo {
        Some(addr) => match wxgate_sim::serve_echo_upstream(addr).await {
            Ok(handle) => {
                println!("wxgate-sim: echo upstream on {}", handle.base_url());
                Some(handle)
            }
            Err(err) => {
                eprintln!("wxgate-sim: cannot listen on {addr}: {err}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    match tokio::signal::ctrl_c().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wxgate-sim: {err}");
            ExitCode::FAILURE
        }
    }
}
