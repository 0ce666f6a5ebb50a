//! Conformance cases: accounts, apps, keys.

use super::*;

pub async fn case_accounts_create_and_list<S: Store>(store: S) {
    assert_eq!(
        store.list_accounts().await.unwrap(),
        vec![],
        "a fresh store has no accounts"
    );
    let a = store.create_account("alpha").await.unwrap();
    let b = store.create_account("beta").await.unwrap();
    assert_ne!(a.id, b.id, "account ids are unique");
    assert_eq!(a.name, "alpha");
    assert_eq!(b.name, "beta");
    assert!(
        a.created_at > 1_600_000_000,
        "created_at is the current unix time in seconds, got {}",
        a.created_at
    );
    let listed = sorted_by_key(store.list_accounts().await.unwrap(), |x| x.id);
    assert_eq!(listed, sorted_by_key(vec![a, b], |x| x.id));
}

pub async fn case_first_account_only_once<S: Store>(store: S) {
    let first = store
        .create_first_account("default")
        .await
        .unwrap()
        .expect("a fresh store gets its first account");
    assert_eq!(first.name, "default");
    assert_eq!(store.create_first_account("again").await.unwrap(), None);
    assert_eq!(store.list_accounts().await.unwrap(), vec![first]);
}

pub async fn case_apps_create_list_get<S: Store>(store: S) {
    let a = store.create_account("a").await.unwrap();
    let b = store.create_account("b").await.unwrap();
    let unknown_account = a.id.max(b.id) + 1000;
    assert!(
        matches!(
            store.create_app(unknown_account, "x").await,
            Err(StoreError::AccountNotFound)
        ),
        "create_app for an unknown account is AccountNotFound"
    );

    let a1 = store.create_app(a.id, "a-one").await.unwrap();
    let a2 = store.create_app(a.id, "a-two").await.unwrap();
    let b1 = store.create_app(b.id, "b-one").await.unwrap();
    let ids: HashSet<u64> = [a1.sdk_app_id, a2.sdk_app_id, b1.sdk_app_id].into();
    assert_eq!(
        ids.len(),
        3,
        "SdkAppIds are globally unique across accounts"
    );
    assert_eq!((a1.account_id, a1.name.as_str()), (a.id, "a-one"));
    assert_eq!((b1.account_id, b1.name.as_str()), (b.id, "b-one"));

    let by_id = |apps: Vec<App>| sorted_by_key(apps, |x| x.sdk_app_id);
    assert_eq!(
        by_id(store.list_apps(None).await.unwrap()),
        by_id(vec![a1.clone(), a2.clone(), b1.clone()])
    );
    assert_eq!(
        by_id(store.list_apps(Some(a.id)).await.unwrap()),
        by_id(vec![a1.clone(), a2.clone()]),
        "list_apps(Some(account)) lists only that account's apps"
    );
    assert_eq!(store.list_apps(Some(b.id)).await.unwrap(), vec![b1.clone()]);
    assert_eq!(
        store.list_apps(Some(unknown_account)).await.unwrap(),
        vec![]
    );

    assert_eq!(
        store.get_app(a2.sdk_app_id).await.unwrap(),
        Some(a2.clone())
    );
    let unknown_app = a1.sdk_app_id.max(a2.sdk_app_id).max(b1.sdk_app_id) + 1000;
    assert_eq!(store.get_app(unknown_app).await.unwrap(), None);
    // Clients send arbitrary u64 SdkAppIds: lookups must answer None, not fail.
    assert_eq!(store.get_app(u64::MAX).await.unwrap(), None);
}

pub async fn case_keys_insert_list_enable<S: Store>(store: S) {
    let a = store.create_account("a").await.unwrap();
    let b = store.create_account("b").await.unwrap();
    let orphan = ApiKey::generate(a.id.max(b.id) + 1000, 100);
    assert!(
        matches!(
            store.insert_key(&orphan).await,
            Err(StoreError::AccountNotFound)
        ),
        "insert_key for an unknown account is AccountNotFound"
    );
    assert_eq!(store.get_key(&orphan.secret_id).await.unwrap(), None);

    let k1 = ApiKey::generate(a.id, 100);
    let k2 = ApiKey::generate(a.id, 101);
    let k3 = ApiKey::generate(b.id, 102);
    for key in [&k1, &k2, &k3] {
        store.insert_key(key).await.unwrap();
    }
    assert_eq!(
        store.get_key(&k1.secret_id).await.unwrap(),
        Some(k1.clone())
    );
    assert_eq!(store.get_key("AKIDdoesnotexist").await.unwrap(), None);

    let by_id = |keys: Vec<ApiKey>| sorted_by_key(keys, |k| k.secret_id.clone());
    assert_eq!(
        by_id(store.list_keys(None).await.unwrap()),
        by_id(vec![k1.clone(), k2.clone(), k3.clone()])
    );
    assert_eq!(
        by_id(store.list_keys(Some(a.id)).await.unwrap()),
        by_id(vec![k1.clone(), k2.clone()]),
        "list_keys(Some(account)) lists only that account's keys"
    );

    assert!(store.set_key_enabled(&k1.secret_id, false).await.unwrap());
    let disabled = store.get_key(&k1.secret_id).await.unwrap().unwrap();
    assert!(!disabled.enabled, "set_key_enabled(false) disables the key");
    assert_eq!(
        disabled,
        ApiKey {
            enabled: false,
            ..k1.clone()
        },
        "disabling changes nothing else"
    );
    assert!(
        store.get_key(&k2.secret_id).await.unwrap().unwrap().enabled,
        "other keys stay enabled"
    );
    assert!(
        !store
            .set_key_enabled("AKIDdoesnotexist", false)
            .await
            .unwrap(),
        "set_key_enabled on an unknown key returns false"
    );
    assert!(store.set_key_enabled(&k1.secret_id, true).await.unwrap());
    assert!(store.get_key(&k1.secret_id).await.unwrap().unwrap().enabled);
}
