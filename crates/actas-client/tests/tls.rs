//! The client crate reaches an actas served over HTTPS, with TLS ended in
//! front of it as a production proxy ends it, under a certificate issued by
//! a company root of the test's own making.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actas_client::{Client, ClientError, TokenError, Verifier};
use actas_server::testing::*;
use futures::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

/// A company root and a certificate for `localhost` issued by it: (the
/// root's PEM, the leaf's DER, the leaf key's PKCS#8 DER).
fn certificates() -> (String, Vec<u8>, Vec<u8>) {
    let root_key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = root.self_signed(&root_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf =
        CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&leaf_key, &root, &root_key).unwrap();
    (root.pem(), leaf.der().to_vec(), leaf_key.serialize_der())
}

/// Ends TLS on `listener` and passes each connection on to `upstream`.
fn tls_front(listener: TcpListener, upstream: SocketAddr, leaf: Vec<u8>, key: Vec<u8>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf)], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut up) = TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
}

/// actas (on the system clock, its tokens issued by its HTTPS address)
/// behind a TLS front: (the app, the HTTPS base, the root's PEM).
async fn serve_https() -> (TestApp, String, String) {
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://localhost:{}", front.local_addr().unwrap().port());
    let issuer = base.clone();
    let actas =
        TestApp::around(TestServer::builder().real_clock().configure(move |c| c.base_url = Some(issuer)).spawn().await)
            .await;
    let upstream: SocketAddr = actas.base.trim_start_matches("http://").parse().unwrap();
    let (root, leaf, key) = certificates();
    tls_front(front, upstream, leaf, key);
    (actas, base, root)
}

/// A reqwest client that trusts `root` (PEM) besides the system's roots.
fn trusting(root: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_host_app_verifies_authorizes_and_follows_over_https() {
    let (actas, base, root) = serve_https().await;
    let http = trusting(&root);
    let client = Client::with_http(&base, &actas.app, http.clone());
    let verifier = Verifier::with_http(&base, &actas.app_id, http);
    let mut feed = client.follow();
    actas.wait_for_followers(1).await;

    let s = actas.session(&actas.maria).actions(&["settings.view"]).start().await;
    // The keys come over HTTPS, and the token names the HTTPS address as its issuer.
    let who = verifier.verify(&s.token).await.unwrap();
    assert_eq!((who.session_id.as_str(), who.account_id.as_str()), (s.id.as_str(), "acct_42"));
    let yes = client.authorize(&s.token, "settings.view").await.unwrap();
    assert!(yes.allowed, "{yes:?}");
    let no = client.authorize(&s.token, "invoice_email.update").await.unwrap();
    assert_eq!((no.allowed, no.reason.as_str()), (false, "not_in_scope"));
    let started = tokio::time::timeout(Duration::from_secs(5), feed.next()).await.unwrap().unwrap();
    assert_eq!((started.kind.as_str(), started.session.id.as_str()), ("session.started", s.id.as_str()));
    assert_eq!(client.session(&s.id).await.unwrap().state.as_str(), "live");
}

#[tokio::test]
async fn a_certificate_from_an_unknown_root_is_refused_before_anything_is_sent() {
    let (actas, base, _root) = serve_https().await;
    let s = actas.session(&actas.maria).actions(&["settings.view"]).start().await;
    let before = actas.events().await.len();
    // The system's roots only: the test's root is not among them.
    let client = Client::new(&base, &actas.app);
    match client.authorize(&s.token, "settings.view").await {
        Err(ClientError::Http(e)) => assert!(e.is_connect(), "{e:?}"),
        other => panic!("a refused connection, not {other:?}"),
    }
    let verifier = Verifier::new(&base, &actas.app_id);
    assert!(matches!(verifier.verify(&s.token).await, Err(TokenError::Unavailable(_))));
    assert_eq!(actas.events().await.len(), before, "no authorize call reached actas");
}
