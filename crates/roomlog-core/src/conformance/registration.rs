//! Conformance cases: users.

use super::*;

/// A user of `app` with every field set.
pub fn user(app: &App, id: &str, origin: &str) -> User {
    User {
        user_id: id.to_owned(),
        sdk_app_id: app.sdk_app_id,
        name: format!("name of {id}"),
        origin_id: origin.to_owned(),
        avatar: format!("https://example.com/{id}.png"),
        token: format!("token-{id}"),
        token_expires_ms: T0_MS + 1,
        created_at: T0 as i64,
    }
}

pub async fn case_users<S: Store>(store: S) {
    let (_, app) = account_and_app(&store, "a").await;
    let (_, other) = account_and_app(&store, "b").await;

    let batch = vec![
        user(&app, "u-plain", ""),
        user(&app, "u-o1", "o1"),
        user(&app, "u-o2", "o2"),
        user(&app, "u-also-plain", ""),
    ];
    assert_eq!(
        store.register_users(batch.clone(), false).await.unwrap(),
        batch,
        "new users are stored as given, in input order"
    );
    for u in &batch {
        assert_eq!(store.get_user(&u.user_id).await.unwrap().as_ref(), Some(u));
    }
    assert_eq!(store.get_user("nobody").await.unwrap(), None);
    assert_eq!(
        store
            .get_user_by_origin(app.sdk_app_id, "o1")
            .await
            .unwrap(),
        Some(batch[1].clone())
    );
    assert_eq!(
        store
            .get_user_by_origin(other.sdk_app_id, "o1")
            .await
            .unwrap(),
        None,
        "OriginIds are looked up within one app"
    );
    assert_eq!(
        store.get_user_by_origin(app.sdk_app_id, "").await.unwrap(),
        None,
        "an empty OriginId names nobody"
    );

    // The same OriginId in another app is another user.
    let theirs = user(&other, "v-o1", "o1");
    store
        .register_users(vec![theirs.clone()], false)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_user_by_origin(other.sdk_app_id, "o1")
            .await
            .unwrap(),
        Some(theirs.clone())
    );

    // Without overwrite an existing OriginId fails the whole call.
    let result = store
        .register_users(
            vec![user(&app, "u-o3", "o3"), user(&app, "u-dup", "o2")],
            false,
        )
        .await;
    match result {
        Err(StoreError::Rejected(e)) => assert_eq!(e.code, "FailedOperation.OriginIdExists"),
        other => panic!("expected Rejected(OriginIdExists), got {other:?}"),
    }
    assert_eq!(
        store.get_user("u-o3").await.unwrap(),
        None,
        "all or nothing: the call's other users were not registered"
    );
    assert_eq!(
        store
            .get_user_by_origin(app.sdk_app_id, "o3")
            .await
            .unwrap(),
        None
    );

    // With overwrite the existing user keeps its id and takes the new name, avatar and token.
    let newer = User {
        name: "renamed".into(),
        avatar: "https://example.com/new.png".into(),
        token: "fresh-token".into(),
        token_expires_ms: T0_MS + 99,
        ..user(&app, "u-ignored", "o2")
    };
    let stored = store
        .register_users(vec![user(&app, "u-o4", "o4"), newer.clone()], true)
        .await
        .unwrap();
    let expected = User {
        name: newer.name.clone(),
        avatar: newer.avatar.clone(),
        token: newer.token.clone(),
        token_expires_ms: newer.token_expires_ms,
        ..batch[2].clone()
    };
    assert_eq!(stored, vec![user(&app, "u-o4", "o4"), expected.clone()]);
    assert_eq!(store.get_user("u-o2").await.unwrap(), Some(expected));
    assert_eq!(store.get_user("u-ignored").await.unwrap(), None);
    assert_eq!(
        store
            .get_user_by_origin(other.sdk_app_id, "o1")
            .await
            .unwrap(),
        Some(theirs.clone()),
        "other apps are untouched"
    );

    // Tokens.
    assert!(store
        .set_user_token("u-plain", "t2", T0_MS + 500)
        .await
        .unwrap());
    let renewed = store.get_user("u-plain").await.unwrap().unwrap();
    assert_eq!(
        (
            renewed.token.as_str(),
            renewed.token_expires_ms,
            renewed.name.as_str()
        ),
        ("t2", T0_MS + 500, "name of u-plain")
    );
    assert!(!store.set_user_token("nobody", "t", 1).await.unwrap());

    // Names of the app's users only.
    let ids: Vec<String> = ["u-plain", "u-o2", "v-o1", "nobody"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let names = store.user_names(app.sdk_app_id, &ids).await.unwrap();
    let expected = HashMap::from([
        ("u-plain".to_owned(), "name of u-plain".to_owned()),
        ("u-o2".to_owned(), "renamed".to_owned()),
    ]);
    assert_eq!(
        names, expected,
        "another app's user and unknown ids are absent"
    );
    assert_eq!(
        store.user_names(other.sdk_app_id, &ids).await.unwrap(),
        HashMap::from([("v-o1".to_owned(), "name of v-o1".to_owned())])
    );
    assert_eq!(
        store.user_names(app.sdk_app_id, &[]).await.unwrap(),
        HashMap::new()
    );
}
