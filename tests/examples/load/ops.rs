//! The operations of the load run: each sends one request (or a short exchange) and judges
//! the answer, counting anything but the one right answer as wrong.

use super::*;

/// A client address behind the trusted proxy, so per-address limits see many clients.
fn forwarded_for() -> String {
    let mut r = rand::thread_rng();
    format!(
        "10.{}.{}.{}",
        r.gen_range(0..256),
        r.gen_range(0..256),
        r.gen_range(1..255)
    )
}

async fn json_of(resp: reqwest::Response) -> Result<(u16, Value), Wrong> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(transport)?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

fn login_pair(status: u16, v: &Value, what: &str) -> Result<Pair, Wrong> {
    let text = |k: &str| v[k].as_str().map(str::to_string);
    match (status, text("access_token"), text("refresh_token")) {
        (200, Some(access), Some(refresh)) => Ok(Pair {
            access,
            refresh,
            user: v["user"]["id"].as_str().unwrap_or_default().to_string(),
        }),
        _ => Err(wrong(status, format!("{what}: {v}"))),
    }
}

async fn mp_login(s: &Shared) -> Outcome {
    let i = rand::thread_rng().gen_range(0..s.users);
    let who = json!({"appid": MP_APPID, "user": person(i)});
    let code = control(&s.http, format!("{}/_sim/login_code", s.sim), who.clone())
        .await
        .map_err(|e| wrong(0, e))?;
    let mut body = json!({"code": code["code"]});
    if rand::thread_rng().gen_bool(0.3) {
        let phone = control(&s.http, format!("{}/_sim/phone_code", s.sim), who)
            .await
            .map_err(|e| wrong(0, e))?;
        body["phone_code"] = phone["code"].clone();
    }
    let resp = s
        .http
        .post(format!("{}/_auth/mp/login", s.replica()))
        .header("x-forwarded-for", forwarded_for())
        .json(&body)
        .send()
        .await
        .map_err(transport)?;
    let (status, v) = json_of(resp).await?;
    let pair = login_pair(status, &v, "mp login")?;
    s.same_person(&person(i), &pair.user);
    s.keep_pair(pair);
    Ok(())
}

async fn refresh(s: &Shared) -> Outcome {
    let taken = {
        let mut pairs = s.pairs.lock().unwrap();
        if pairs.is_empty() {
            None
        } else {
            let at = rand::thread_rng().gen_range(0..pairs.len());
            Some(pairs.swap_remove(at))
        }
    };
    let Some(old) = taken else {
        return mp_login(s).await;
    };
    let resp = s
        .http
        .post(format!("{}/_auth/token/refresh", s.replica()))
        .json(&json!({"refresh_token": old.refresh}))
        .send()
        .await
        .map_err(transport)?;
    let (status, v) = json_of(resp).await?;
    let pair = login_pair(status, &v, "refresh")?;
    if pair.user != old.user {
        return Err(wrong(
            status,
            format!("refresh changed user {} -> {}", old.user, pair.user),
        ));
    }
    s.keep_pair(pair);
    Ok(())
}

/// Authorize on one replica, WeChat's page in the simulator, the callback on the other, then
/// the page it returns to.
async fn oauth(s: &Shared) -> Outcome {
    let i = rand::thread_rng().gen_range(0..s.users);
    let channel = if rand::thread_rng().gen_bool(0.5) {
        "oa"
    } else {
        "web"
    };
    let (start, finish) = s.both();
    let ip = forwarded_for();
    let mut session = CookieSession {
        cookies: HashMap::new(),
        user: String::new(),
    };
    let resp = s
        .http
        .get(format!(
            "{start}/_auth/{channel}/authorize?return_to=/api/landing"
        ))
        .header("x-forwarded-for", &ip)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let location = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let Some(to_wechat) = location(&resp).filter(|_| status == 302) else {
        return Err(wrong(status, "authorize did not redirect"));
    };
    session.absorb(&resp);
    // Who "scans" goes in the query, before WeChat's `#wechat_redirect` fragment.
    let mut to_wechat = url::Url::parse(&to_wechat).map_err(|e| wrong(0, e.to_string()))?;
    to_wechat
        .query_pairs_mut()
        .append_pair("sim_user", &person(i));
    let resp = s
        .http
        .get(to_wechat.as_str())
        .send()
        .await
        .map_err(transport)?;
    let Some(callback) = location(&resp) else {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(wrong(0, format!("the simulator answered {status}: {body}")));
    };
    // The callback goes to public_url; here, to the other replica instead.
    let mut callback = url::Url::parse(&callback).map_err(|e| wrong(0, e.to_string()))?;
    let finish_url = url::Url::parse(finish).unwrap();
    callback.set_port(finish_url.port()).unwrap();
    let resp = s
        .http
        .get(callback.as_str())
        .header("cookie", session.header())
        .header("x-forwarded-for", &ip)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    if status != 302 || location(&resp).as_deref() != Some("/api/landing") {
        let body = resp.text().await.unwrap_or_default();
        return Err(wrong(
            status,
            format!("callback: {}", body.chars().take(160).collect::<String>()),
        ));
    }
    session.absorb(&resp);
    let user = proxied(s, s.replica(), &mut session_request(&session)).await?;
    session.user = user;
    s.same_person(&person(i), &session.user);
    s.keep_cookies(session);
    Ok(())
}

async fn sms(s: &Shared) -> Outcome {
    let n = s.sms_next.fetch_add(1, Ordering::Relaxed);
    let phone = format!("137{n:08}");
    let (send_on, login_on) = s.both();
    let ip = forwarded_for();
    let resp = s
        .http
        .post(format!("{send_on}/_auth/sms/send_code"))
        .header("x-forwarded-for", &ip)
        .json(&json!({"phone": phone}))
        .send()
        .await
        .map_err(transport)?;
    let (status, v) = json_of(resp).await?;
    if status != 202 {
        return Err(wrong(status, format!("send_code: {v}")));
    }
    let resp = s
        .http
        .get(format!("{}/_sim/sms/last?phone={phone}", s.sim))
        .send()
        .await
        .map_err(transport)?;
    let (_, texted) = json_of(resp).await?;
    let resp = s
        .http
        .post(format!("{login_on}/_auth/sms/login"))
        .header("x-forwarded-for", &ip)
        .json(&json!({"phone": phone, "code": texted["code"]}))
        .send()
        .await
        .map_err(transport)?;
    let (status, v) = json_of(resp).await?;
    let pair = login_pair(status, &v, "sms login")?;
    s.same_person(&format!("sms:{phone}"), &pair.user);
    s.keep_pair(pair);
    Ok(())
}

/// How a proxied request carries its credential.
enum Credential {
    Bearer(Pair),
    Cookie(CookieSession),
}

fn session_request(session: &CookieSession) -> Credential {
    Credential::Cookie(session.clone())
}

/// A request through the gateway to the echo upstream; answers the `X-Auth-User` it saw.
async fn proxied(s: &Shared, replica: &str, credential: &mut Credential) -> Result<String, Wrong> {
    let mut request = s.http.get(format!("{replica}/api/echo"));
    request = match credential {
        Credential::Bearer(pair) => request.bearer_auth(&pair.access),
        Credential::Cookie(session) => request.header("cookie", session.header()),
    };
    let resp = request.send().await.map_err(transport)?;
    if let Credential::Cookie(session) = credential {
        session.absorb(&resp);
    }
    let (status, v) = json_of(resp).await?;
    let seen = v["headers"]["x-auth-user"].as_str().map(str::to_string);
    match (status, seen) {
        (200, Some(user)) => Ok(user),
        _ => Err(wrong(status, format!("proxied: {v}"))),
    }
}

async fn bearer(s: &Shared) -> Outcome {
    let pair = {
        let pairs = s.pairs.lock().unwrap();
        if pairs.is_empty() {
            None
        } else {
            Some(pairs[rand::thread_rng().gen_range(0..pairs.len())].clone())
        }
    };
    let Some(pair) = pair else {
        return mp_login(s).await;
    };
    let expected = pair.user.clone();
    let seen = proxied(s, s.replica(), &mut Credential::Bearer(pair)).await?;
    if seen != expected {
        return Err(wrong(
            200,
            format!("bearer of {expected} arrived as {seen}"),
        ));
    }
    Ok(())
}

async fn cookie(s: &Shared) -> Outcome {
    let taken = {
        let mut all = s.cookies.lock().unwrap();
        if all.is_empty() {
            None
        } else {
            let at = rand::thread_rng().gen_range(0..all.len());
            Some(all.swap_remove(at))
        }
    };
    let Some(session) = taken else {
        return oauth(s).await;
    };
    let expected = session.user.clone();
    let mut credential = Credential::Cookie(session);
    let seen = proxied(s, s.replica(), &mut credential).await?;
    if let Credential::Cookie(session) = credential {
        s.keep_cookies(session);
    }
    if seen != expected {
        return Err(wrong(
            200,
            format!("cookie of {expected} arrived as {seen}"),
        ));
    }
    Ok(())
}

pub(crate) fn pick() -> Op {
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    let mut n = rand::thread_rng().gen_range(0..total);
    for (op, w) in MIX {
        if n < w {
            return op;
        }
        n -= w;
    }
    Op::Bearer
}

pub(crate) async fn one(s: &Shared, op: Op) -> Outcome {
    match op {
        Op::MpLogin => mp_login(s).await,
        Op::Refresh => refresh(s).await,
        Op::OAuth => oauth(s).await,
        Op::Sms => sms(s).await,
        Op::Bearer => bearer(s).await,
        Op::Cookie => cookie(s).await,
    }
}
