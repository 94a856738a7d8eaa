//! The persistent map the edge's config indexes are built of.

/// A config index: structurally shared between config versions (a new version is a cheap
/// copy of the last), keyed by ids and slugs that admins choose and hashed with foldhash. Those
/// keys are looked up on every request, where SipHash's flood resistance buys nothing and costs
/// a few hundred instructions per lookup; the hasher is still seeded per process.
pub(crate) type Map<K, V> =
    imbl::GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;
