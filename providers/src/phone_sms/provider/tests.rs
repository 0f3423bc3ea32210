use super::*;
use crate::phone_sms::sender::{SmsMessage, SmsSender};
use crate::provider::{Context, SessionFacts};
use crate::shared_state::memory::MemoryState;
use std::net::IpAddr;
use std::sync::Mutex;
use wxgate_core::clock::ManualClock;

/// A MAC good enough for tests: the data itself, reversed, behind a prefix.
struct PlainMac;

impl Mac for PlainMac {
    fn mac(&self, data: &[u8]) -> Option<String> {
        Some(format!("t.{}", String::from_utf8_lossy(data)))
    }
    fn verify(&self, data: &[u8], tag: &str) -> bool {
        self.mac(data).as_deref() == Some(tag)
    }
}

/// Records what it would have texted. While `down` is set it fails, but only after keeping the
/// code in `undelivered`: a vendor may error out once the code has left the gateway.
#[derive(Default)]
struct Phones {
    sent: Mutex<Vec<(String, String, String)>>,
    undelivered: Mutex<Vec<String>>,
    down: Mutex<bool>,
}

struct Recorder(Arc<Phones>);

#[async_trait]
impl SmsSender for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }
    async fn send(&self, m: &SmsMessage<'_>) -> Result<(), SendError> {
        if *self.0.down.lock().unwrap() {
            self.0
                .undelivered
                .lock()
                .unwrap()
                .push(m.code.expose().to_string());
            return Err(SendError::Failed("down".into()));
        }
        self.0.sent.lock().unwrap().push((
            m.phone.as_str().to_string(),
            m.code.expose().to_string(),
            m.purpose.to_string(),
        ));
        Ok(())
    }
}

/// A channel with what a test reaches behind it: the texts, the store and the clock.
struct Rig {
    p: PhoneSms,
    phones: Arc<Phones>,
    state: Arc<MemoryState>,
    clock: ManualClock,
}

impl Rig {
    /// Ends every resend cooldown at once: the in-memory store ignores TTLs, so waiting cannot.
    fn lift_cooldowns(&self) {
        self.state
            .0
            .lock()
            .unwrap()
            .retain(|(namespace, _), _| namespace != ns::COOLDOWN);
    }
}

/// 2026-01-01T00:00:00Z, 08:00 in Beijing.
const START_MS: i64 = 1_767_225_600_000;

fn rig(extra: &str) -> Rig {
    let config: Config = toml::from_str(&format!(
        "id = \"sms\"\nsender = {{ kind = \"webhook\", url = \"http://127.0.0.1:1/sms\" }}\n{extra}"
    ))
    .unwrap();
    let phones = Arc::new(Phones::default());
    let senders = FailOver::of(vec![Box::new(Recorder(phones.clone()))]);
    let clock = ManualClock::new(START_MS);
    let state = Arc::new(MemoryState::default());
    let p = PhoneSms::new(
        &config,
        senders,
        state.clone(),
        Arc::new(PlainMac),
        Arc::new(clock.clone()),
    );
    Rig {
        p,
        phones,
        state,
        clock,
    }
}

fn channel(extra: &str) -> (PhoneSms, Arc<Phones>) {
    let r = rig(extra);
    (r.p, r.phones)
}

const IP: &str = "203.0.113.7";

async fn call(
    p: &PhoneSms,
    action: &str,
    body: serde_json::Value,
    ip: &str,
    session: Option<&SessionFacts>,
) -> Result<Reply, ProviderError> {
    let body = body.to_string();
    // The gateway hands over the client's network; here each address is its own.
    let network = format!("{ip}/32");
    p.handle(Call {
        action,
        body: body.as_bytes(),
        query: &[],
        raw_query: "",
        session,
        cx: Context {
            callback_url: "",
            state: None,
            client_ip: Some(ip.parse::<IpAddr>().unwrap()),
            client_network: Some(&network),
            ticket: None,
            public_origin: "",
            client_app: Default::default(),
        },
    })
    .await
}

async fn send(p: &PhoneSms, phone: &str) -> Result<Reply, ProviderError> {
    call(
        p,
        "send_code",
        serde_json::json!({ "phone": phone }),
        IP,
        None,
    )
    .await
}

async fn login(p: &PhoneSms, phone: &str, code: &str) -> Result<Reply, ProviderError> {
    call(
        p,
        "login",
        serde_json::json!({ "phone": phone, "code": code }),
        IP,
        None,
    )
    .await
}

fn last_code(phones: &Phones) -> String {
    phones.sent.lock().unwrap().last().unwrap().1.clone()
}

/// A code that is not `code`.
fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

fn logged_in(reply: Reply) -> String {
    match reply {
        Reply::Login(v) => v.phone.unwrap().as_str().to_string(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_code_is_sent_checked_once_and_a_wrong_one_refused() {
    let (p, phones) = channel("");
    assert_eq!(
        send(&p, "13800138000").await.unwrap(),
        Reply::Accepted { retry_after: 60 }
    );
    let code = last_code(&phones);
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        login(&p, "13800138000", wrong).await,
        Err(ProviderError::InvalidCode)
    );
    // Written in another form, the same phone: E.164 out.
    assert_eq!(
        logged_in(login(&p, "+8613800138000", &code).await.unwrap()),
        "+8613800138000"
    );
    assert_eq!(
        login(&p, "13800138000", &code).await,
        Err(ProviderError::InvalidCode),
        "used once"
    );
}

#[tokio::test]
async fn a_code_is_burnt_after_max_attempts() {
    let (p, phones) = channel("max_attempts = 3\n");
    send(&p, "13800138000").await.unwrap();
    let code = last_code(&phones);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        assert_eq!(
            login(&p, "13800138000", wrong).await,
            Err(ProviderError::InvalidCode)
        );
    }
    assert_eq!(
        login(&p, "13800138000", &code).await,
        Err(ProviderError::InvalidCode),
        "the right code after the last wrong try"
    );
}

/// Sends another code to `phone` once the cooldown is lifted; a draw equal to `older` (one in a
/// million) is redrawn, or the older code would still work and prove nothing.
async fn resend(r: &Rig, phone: &str, older: &str) -> String {
    loop {
        r.lift_cooldowns();
        send(&r.p, phone).await.unwrap();
        let newer = last_code(&r.phones);
        if newer != older {
            return newer;
        }
    }
}

#[tokio::test]
async fn a_newer_code_replaces_the_older_one() {
    let r = rig("");
    send(&r.p, "13800138000").await.unwrap();
    let older = last_code(&r.phones);
    let newer = resend(&r, "13800138000", &older).await;
    assert_eq!(
        login(&r.p, "13800138000", &older).await,
        Err(ProviderError::InvalidCode),
        "the older code died with the resend"
    );
    assert_eq!(
        logged_in(login(&r.p, "13800138000", &newer).await.unwrap()),
        "+8613800138000"
    );
}

#[test]
fn the_channel_names_itself_by_its_config_id_and_kind() {
    // The kind names the channel in errors ("channel \"sms\" (phone_sms) has no … endpoint").
    let r = rig("");
    assert_eq!(r.p.id(), "sms");
    assert_eq!(r.p.kind(), "phone_sms");
}

#[tokio::test]
async fn the_codes_of_two_phones_live_side_by_side() {
    let r = rig("");
    send(&r.p, "13800138000").await.unwrap();
    let first = last_code(&r.phones);
    send(&r.p, "13900139000").await.unwrap();
    let second = last_code(&r.phones);
    // Each phone's code is its own: the second send replaced nothing of the first.
    assert_eq!(
        logged_in(login(&r.p, "13800138000", &first).await.unwrap()),
        "+8613800138000"
    );
    assert_eq!(
        logged_in(login(&r.p, "13900139000", &second).await.unwrap()),
        "+8613900139000"
    );
}

#[tokio::test]
async fn a_newer_code_starts_with_no_wrong_tries() {
    let r = rig("max_attempts = 3\n");
    send(&r.p, "13800138000").await.unwrap();
    let older = last_code(&r.phones);
    for _ in 0..2 {
        login(&r.p, "13800138000", wrong(&older)).await.unwrap_err();
    }
    let newer = resend(&r, "13800138000", &older).await;
    // Had the two wrong tries carried over, this third one would burn the new code.
    assert_eq!(
        login(&r.p, "13800138000", wrong(&newer)).await,
        Err(ProviderError::InvalidCode)
    );
    assert!(login(&r.p, "13800138000", &newer).await.is_ok());
}

#[tokio::test]
async fn bad_phones_and_codes_are_refused_before_anything_else() {
    let (p, phones) = channel("");
    for bad in [
        "",
        "12800138000",
        "+86 138",
        "abc",
        "1380013800a",
        "13800138000 ext 1",
    ] {
        assert!(
            matches!(send(&p, bad).await, Err(ProviderError::InvalidRequest(_))),
            "{bad:?}"
        );
    }
    for bad in ["12345", "1234567", "12345a", "１２３４５６"] {
        assert!(
            matches!(
                login(&p, "13800138000", bad).await,
                Err(ProviderError::InvalidRequest(_))
            ),
            "{bad:?}"
        );
    }
    assert!(phones.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn resend_waits_for_the_cooldown() {
    let (p, _) = channel("");
    send(&p, "13800138000").await.unwrap();
    assert!(matches!(
        send(&p, "13800138000").await,
        Err(ProviderError::RateLimited { retry_after }) if retry_after > 0
    ));
    // Another phone is not held back.
    assert!(send(&p, "13900139000").await.is_ok());
}

#[tokio::test]
async fn a_failed_send_uses_nothing_up_and_leaves_no_code() {
    let (p, phones) = channel("sends_per_phone_hour = 1\n");
    *phones.down.lock().unwrap() = true;
    assert!(matches!(
        send(&p, "13800138000").await,
        Err(ProviderError::Unavailable(_))
    ));
    *phones.down.lock().unwrap() = false;
    // At once, and within the hourly cap of one: nothing was counted.
    assert!(send(&p, "13800138000").await.is_ok());
    assert_eq!(phones.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_code_of_a_failed_send_is_refused() {
    let (p, phones) = channel("");
    *phones.down.lock().unwrap() = true;
    assert!(matches!(
        send(&p, "13800138000").await,
        Err(ProviderError::Unavailable(_))
    ));
    // The vendor may have delivered it before failing: it must not log anybody in.
    let code = phones.undelivered.lock().unwrap().pop().unwrap();
    assert_eq!(
        login(&p, "13800138000", &code).await,
        Err(ProviderError::InvalidCode)
    );
}

#[tokio::test]
async fn one_address_cannot_text_many_phones() {
    let (p, _) = channel("sends_per_ip_hour = 3\n");
    for i in 0..3 {
        send(&p, &format!("1380013800{i}")).await.unwrap();
    }
    assert!(matches!(
        send(&p, "13800138009").await,
        Err(ProviderError::RateLimited { .. })
    ));
    // The refused phone can still be texted once the address is no longer the problem.
    let other_ip = call(
        &p,
        "send_code",
        serde_json::json!({"phone": "13800138009"}),
        "198.51.100.1",
        None,
    )
    .await;
    assert!(other_ip.is_ok(), "{other_ip:?}");
}

/// Two codes for one phone, then a refusal that texts nothing; another phone is unaffected.
async fn a_phone_gets_two_codes_then_none(config: &str) {
    let r = rig(config);
    for _ in 0..2 {
        r.lift_cooldowns();
        send(&r.p, "13800138000").await.unwrap();
    }
    r.lift_cooldowns();
    assert!(matches!(
        send(&r.p, "13800138000").await,
        Err(ProviderError::RateLimited { .. })
    ));
    assert_eq!(r.phones.sent.lock().unwrap().len(), 2, "nothing texted");
    assert!(send(&r.p, "13900139000").await.is_ok(), "another phone");
}

#[tokio::test]
async fn one_phone_gets_so_many_codes_an_hour() {
    a_phone_gets_two_codes_then_none("sends_per_phone_hour = 2\n").await;
}

#[tokio::test]
async fn one_phone_gets_so_many_codes_a_day() {
    // The hourly cap is left above the daily one, so only the daily one can refuse.
    a_phone_gets_two_codes_then_none("sends_per_phone_hour = 5\nsends_per_phone_day = 2\n").await;
}

/// E4: a stranger who spends a phone's caps from their network stops only that network; the
/// owner, on another, still gets a code after the cooldown. The day's total across networks
/// still bounds how many texts one phone receives.
#[tokio::test]
async fn a_stranger_spending_a_phones_caps_does_not_lock_its_owner_out() {
    let r = rig("sends_per_phone_hour = 2\nsends_per_phone_day_all = 3\n");
    let send_from = |ip: &'static str| {
        let p = &r.p;
        async move {
            call(
                p,
                "send_code",
                serde_json::json!({"phone": "13800138000"}),
                ip,
                None,
            )
            .await
        }
    };
    for _ in 0..2 {
        r.lift_cooldowns();
        send_from("203.0.113.66").await.unwrap();
    }
    r.lift_cooldowns();
    assert!(matches!(
        send_from("203.0.113.66").await,
        Err(ProviderError::RateLimited { .. })
    ));
    r.lift_cooldowns();
    assert!(
        send_from("198.51.100.1").await.is_ok(),
        "the owner's network"
    );
    r.lift_cooldowns();
    assert!(
        matches!(
            send_from("192.0.2.9").await,
            Err(ProviderError::RateLimited { .. })
        ),
        "three texts a day to one phone at most, whoever asks"
    );
    assert_eq!(r.phones.sent.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn the_daily_budget_stops_every_sender() {
    let (p, _) = channel("daily_budget = 2\n");
    send(&p, "13800138000").await.unwrap();
    send(&p, "13900139000").await.unwrap();
    assert!(matches!(
        send(&p, "13700137000").await,
        Err(ProviderError::BudgetExhausted { .. })
    ));
}

#[tokio::test]
async fn a_spent_budget_says_to_come_back_at_beijing_midnight() {
    let r = rig("daily_budget = 1\n");
    send(&r.p, "13800138000").await.unwrap();
    // 08:00 in Beijing: sixteen hours to go.
    assert_eq!(
        send(&r.p, "13900139000").await,
        Err(ProviderError::BudgetExhausted {
            retry_after: 16 * 3600
        })
    );
    // 23:59:30 in Beijing.
    r.clock.advance_ms((16 * 3600 - 30) * 1000);
    assert_eq!(
        send(&r.p, "13700137000").await,
        Err(ProviderError::BudgetExhausted { retry_after: 30 })
    );
    // And at midnight the new day's budget is there.
    r.clock.advance_ms(30_000);
    assert!(send(&r.p, "13600136000").await.is_ok());
}

#[tokio::test]
async fn people_type_numbers_as_they_like_and_one_phone_is_one_key() {
    let r = rig("");
    for (i, typed) in [
        "138 0013 8000",
        "138-0013-8000",
        "１３８００１３８０００",
        "+86 0138 0013 8000",
        "(138) 0013.8000",
    ]
    .into_iter()
    .enumerate()
    {
        r.lift_cooldowns();
        assert!(send(&r.p, typed).await.is_ok(), "{typed:?}");
        let sent = r.phones.sent.lock().unwrap()[i].0.clone();
        assert_eq!(sent, "+8613800138000", "{typed:?}");
    }
    // Any spelling checks the code of the one phone.
    let code = last_code(&r.phones);
    assert_eq!(
        logged_in(login(&r.p, "0086 138 0013 8000", &code).await.unwrap()),
        "+8613800138000"
    );
}

#[tokio::test]
async fn only_mobiles_of_allowed_regions_get_a_code_and_the_refusal_says_why() {
    let (p, phones) = channel("");
    for (number, why) in [
        ("+85251234567", "region HK"),
        ("+447400123456", "region GB"),
        ("+861012345678", "fixed-line"),
        ("+868001234567", "toll-free"),
        ("+8616812345", "premium-rate"),
        ("+864001234567", "shared-cost"),
    ] {
        match send(&p, number).await {
            Err(ProviderError::InvalidRequest(m)) => assert!(m.contains(why), "{number}: {m}"),
            other => panic!("{number}: {other:?}"),
        }
        // A login with such a number is refused the same way, before any code is looked up.
        assert!(matches!(
            login(&p, number, "123456").await,
            Err(ProviderError::InvalidRequest(_))
        ));
    }
    assert!(phones.sent.lock().unwrap().is_empty());
    // Refused before anything was counted: not even the network's send cap moved.
    let (p, phones) = channel("sends_per_ip_hour = 1\nallowed_regions = [\"CN\", \"HK\"]\n");
    assert!(send(&p, "+447400123456").await.is_err());
    assert!(send(&p, "+85251234567").await.is_ok());
    assert_eq!(phones.sent.lock().unwrap()[0].0, "+85251234567");
}

#[tokio::test]
async fn guesses_at_a_phone_without_a_code_lock_nobody_out() {
    let (p, phones) = channel("guesses_per_ip_hour = 1000\n");
    for _ in 0..50 {
        assert_eq!(
            login(&p, "13800138000", "123456").await,
            Err(ProviderError::InvalidCode)
        );
    }
    // The owner, from another network, asks for a code and uses it.
    let owner = "198.51.100.1";
    call(
        &p,
        "send_code",
        serde_json::json!({"phone": "13800138000"}),
        owner,
        None,
    )
    .await
    .unwrap();
    let code = last_code(&phones);
    let reply = call(
        &p,
        "login",
        serde_json::json!({"phone": "13800138000", "code": code}),
        owner,
        None,
    )
    .await;
    assert!(reply.is_ok(), "{reply:?}");
}

#[tokio::test]
async fn a_code_burnt_by_another_network_is_replaced_at_the_next_send() {
    let r = rig("max_attempts = 3\nguesses_per_ip_hour = 1000\n");
    let owner = "198.51.100.1";
    let check = |code: String| {
        let p = &r.p;
        async move {
            call(
                p,
                "login",
                serde_json::json!({"phone": "13800138000", "code": code}),
                owner,
                None,
            )
            .await
        }
    };
    call(
        &r.p,
        "send_code",
        serde_json::json!({"phone": "13800138000"}),
        owner,
        None,
    )
    .await
    .unwrap();
    let first = last_code(&r.phones);
    // Brute force stays out: three wrong tries from anywhere burn the code…
    for _ in 0..3 {
        assert_eq!(
            login(&r.p, "13800138000", wrong(&first)).await,
            Err(ProviderError::InvalidCode)
        );
    }
    assert_eq!(check(first).await, Err(ProviderError::InvalidCode));
    // …and the owner waits no longer than the cooldown of the send: then a new code works.
    r.lift_cooldowns();
    call(
        &r.p,
        "send_code",
        serde_json::json!({"phone": "13800138000"}),
        owner,
        None,
    )
    .await
    .unwrap();
    assert!(check(last_code(&r.phones)).await.is_ok());
}

#[tokio::test]
async fn one_address_cannot_guess_across_many_phones() {
    let (p, _) = channel("guesses_per_ip_hour = 2\n");
    for phone in ["13800138000", "13900139000"] {
        assert_eq!(
            login(&p, phone, "123456").await,
            Err(ProviderError::InvalidCode)
        );
    }
    assert!(matches!(
        login(&p, "13700137000", "123456").await,
        Err(ProviderError::RateLimited { .. })
    ));
    // The phone itself is not held back: from another address it is checked as usual.
    let elsewhere = call(
        &p,
        "login",
        serde_json::json!({"phone": "13700137000", "code": "123456"}),
        "198.51.100.1",
        None,
    )
    .await;
    assert_eq!(elsewhere, Err(ProviderError::InvalidCode));
}

#[tokio::test]
async fn a_login_code_does_not_bind_and_bind_needs_a_session() {
    let (p, phones) = channel("");
    send(&p, "13800138000").await.unwrap();
    let code = last_code(&phones);
    let session = SessionFacts {
        user_id: "u_1".into(),
        channel: "mp".into(),
        appid: Some("wx1".into()),
        openid: Some("oA".into()),
    };
    let body = serde_json::json!({"phone": "13800138000", "code": code});
    assert_eq!(
        call(&p, "bind", body.clone(), IP, None).await,
        Err(ProviderError::Unauthorized)
    );
    assert_eq!(
        call(&p, "bind", body.clone(), IP, Some(&session)).await,
        Err(ProviderError::InvalidCode),
        "a login code is not a bind code"
    );
    call(
        &p,
        "send_code",
        serde_json::json!({"phone": "13900139000", "purpose": "bind"}),
        IP,
        None,
    )
    .await
    .unwrap();
    let bind_code = last_code(&phones);
    assert_eq!(phones.sent.lock().unwrap().last().unwrap().2, "bind");
    let reply = call(
        &p,
        "bind",
        serde_json::json!({"phone": "13900139000", "code": bind_code}),
        IP,
        Some(&session),
    )
    .await
    .unwrap();
    assert!(
        matches!(reply, Reply::Bind(ref v) if v.phone.as_ref().unwrap().as_str() == "+8613900139000")
    );
}
