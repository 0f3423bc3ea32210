//! A name server for tests: answers A queries for the names it is given, with a chosen TTL,
//! so a test can move a name to another address and watch the gateway follow.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

pub struct TestDns {
    pub addr: SocketAddr,
    names: Arc<Mutex<HashMap<String, Ipv4Addr>>>,
    queries: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestDns {
    /// Answers with `ttl` seconds on every record.
    pub async fn start(ttl: u32) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = socket.local_addr().unwrap();
        let names: Arc<Mutex<HashMap<String, Ipv4Addr>>> = Arc::default();
        let queries: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (table, counts) = (names.clone(), queries.clone());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let Some((name, qtype, question_end)) = question(&buf[..n]) else {
                    continue;
                };
                *counts.lock().unwrap().entry(name.clone()).or_default() += 1;
                let found = table.lock().unwrap().get(&name).copied();
                let reply = answer(&buf[..n], question_end, qtype, found, ttl);
                let _ = socket.send_to(&reply, from).await;
            }
        });
        Self {
            addr,
            names,
            queries,
            task,
        }
    }

    /// `name` (lower case, no trailing dot) now resolves to `ip`.
    pub fn set(&self, name: &str, ip: Ipv4Addr) {
        self.names.lock().unwrap().insert(name.to_owned(), ip);
    }

    /// `name` no longer resolves (NXDOMAIN).
    pub fn remove(&self, name: &str) {
        self.names.lock().unwrap().remove(name);
    }

    /// How many queries asked for `name`.
    pub fn queries(&self, name: &str) -> usize {
        self.queries.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The queried name, its type and where the question ends.
fn question(msg: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
    Some((labels.join("."), qtype, at + 4))
}

/// A reply: the A record when asked for one the table has, no answer for another type of a
/// known name, NXDOMAIN for an unknown name.
fn answer(
    query: &[u8],
    question_end: usize,
    qtype: u16,
    found: Option<Ipv4Addr>,
    ttl: u32,
) -> Vec<u8> {
    const A: u16 = 1;
    let mut out = Vec::with_capacity(question_end + 16);
    out.extend_from_slice(&query[..2]);
    let recursion_desired = query[2] & 0x01;
    let rcode = if found.is_some() { 0 } else { 3 };
    out.push(0x84 | recursion_desired); // a response, authoritative
    out.push(0x80 | rcode); // recursion available
    let answers: u16 = u16::from(found.is_some() && qtype == A);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    if let (1, Some(ip)) = (answers, found) {
        out.extend_from_slice(&[0xc0, 0x0c]); // the name, by pointer to the question
        out.extend_from_slice(&A.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}
