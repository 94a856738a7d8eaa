//! The edge's Redis token cache against a real Redis (`GATEHOUSE_TEST_REDIS_URL`;
//! required under CI, see `gatehouse_tests::backends`).

use std::time::Duration;

use gatehouse_data_plane::credentials::cache_backend::TokenCache as _;
use gatehouse_data_plane::credentials::redis_cache::RedisCache;
use secrecy::SecretString;

#[tokio::test]
async fn redis_cache_values_ttls_and_owner_checked_locks() {
    let Some(url) = gatehouse_tests::backends::redis_url() else { return };
    let prefix = format!("gatehouse-test:{}:", uuid::Uuid::new_v4().simple());
    let redis = RedisCache::new(&SecretString::from(url), &prefix).unwrap();
    redis.set("k", b"sealed".to_vec(), Duration::from_secs(30)).await.unwrap();
    assert_eq!(redis.get("k").await.unwrap().as_deref(), Some(&b"sealed"[..]));
    redis.delete("k").await.unwrap();
    assert_eq!(redis.get("k").await.unwrap(), None);

    let ttl = Duration::from_secs(30);
    assert!(redis.try_lock("l", "me", ttl).await.unwrap());
    assert!(!redis.try_lock("l", "you", ttl).await.unwrap());
    redis.unlock("l", "you").await.unwrap();
    assert!(!redis.try_lock("l", "you", ttl).await.unwrap(), "only the owner releases");
    redis.unlock("l", "me").await.unwrap();
    assert!(redis.try_lock("l", "you", ttl).await.unwrap());
    redis.unlock("l", "you").await.unwrap();
}
