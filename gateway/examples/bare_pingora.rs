//! The Pingora floor for `bench/proxy.sh`: a `ProxyHttp` that only picks the upstream, with the
//! same server settings as the gateway (threads, no work stealing, keep-alive pool, mimalloc). Whatever the
//! gateway costs above this is wxgate's own work; what this costs above nginx is Pingora's.
//!
//!   cargo run --release -p wxgate --example bare_pingora -- LISTEN UPSTREAM [THREADS]

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use std::net::SocketAddr;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bare_pingora LISTEN UPSTREAM [THREADS]");
        std::process::exit(2);
    }
    let upstream: SocketAddr = args[2].parse().expect("UPSTREAM is host:port");
    let threads = args
        .get(3)
        .map_or(1, |t| t.parse().expect("THREADS is a number"));
    let run_dir = std::env::temp_dir().join(format!("bare-pingora-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).expect("creating the run directory");
    let mut conf = ServerConf {
        threads,
        work_stealing: false,
        upstream_keepalive_pool_size: 256,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    conf.pid_file = run_dir.join("pid").display().to_string();
    conf.upgrade_sock = run_dir.join("upgrade.sock").display().to_string();
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(&server.configuration, Bare { upstream });
    service.add_tcp(&args[1]);
    server.add_service(service);
    server.run_forever()
}
