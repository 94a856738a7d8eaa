//! Outbound HTTP that reaches only the addresses the edge's policy allows
//! (`gatehouse_config::address_filter`): upstream MCP servers, upstream token
//! endpoints, remote JWKS and introspection endpoints.
//!
//! Names are resolved by [`GuardedResolver`] on every new connection and refused
//! when any address they resolve to is not allowed, so a name that turns private
//! between two requests (DNS rebinding) is caught; address literals never reach a
//! resolver and are checked by [`Egress::request`]. Proxies are not used: a proxy
//! would resolve names itself, past the guard.

use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_config::address_filter::{AddressPolicy, BlockedAddress};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A pooled HTTP client behind the address policy.
#[derive(Debug, Clone)]
pub struct Egress {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl Egress {
    /// A client built by `configure` (timeouts, redirects), resolving through the guard.
    pub fn new(
        policy: AddressPolicy,
        configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let builder = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
            .no_proxy();
        Ok(Self { client: configure(builder).build()?, policy })
    }

    /// A request to `url`, refused when its host is an address literal the policy blocks.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
    ) -> Result<reqwest::RequestBuilder, BlockedAddress> {
        self.policy.check_url(&url)?;
        Ok(self.client.request(method, url))
    }
}

/// Whether `error` (or an error it wraps) is the guard refusing an address.
pub fn is_blocked(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<BlockedAddress>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Resolves names through [`resolve_allowed`].
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Addrs = Box::new(resolve_allowed(&policy, &host).await?.into_iter());
            Ok(addrs)
        })
    }
}

/// The addresses `host` resolves to (with port 0), refused whole when any of them is
/// blocked, so rebinding cannot pick a blocked one. The one guard of every outbound name:
/// reqwest's resolver here and the proxy's upstream connector use it.
pub(crate) async fn resolve_allowed(
    policy: &AddressPolicy,
    host: &str,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(format!("{host} did not resolve").into());
    }
    for addr in &addrs {
        if let Err(blocked) = policy.check(Some(host), addr.ip()) {
            tracing::warn!(%host, address = %blocked.address, class = ?blocked.class, "refusing an outbound connection");
            return Err(Box::new(blocked));
        }
    }
    Ok(addrs)
}
