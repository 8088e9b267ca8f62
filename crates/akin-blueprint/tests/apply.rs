//! Applies authentik's own blueprint files to an in-memory target: every file in
//! `shared/blueprints` loads, resolves and builds the objects it describes, and applying it
//! again changes nothing. Storage-backed imports are tested in akin's integration tests.

use std::collections::HashMap;
use std::path::PathBuf;

use akin_blueprint::apply::{Action, ImportOptions, Target, apply};
use akin_blueprint::blueprint::load;
use akin_blueprint::resolve::Lookup;
use akin_blueprint::{BlueprintError, BlueprintResult, Pos};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const MODELS: &[&str] = &[
    "authentik_flows.flow",
    "authentik_flows.flowstagebinding",
    "authentik_stages_invitation.invitationstage",
    "authentik_stages_invitation.invitation",
    "authentik_stages_prompt.prompt",
    "authentik_stages_prompt.promptstage",
    "authentik_stages_user_write.userwritestage",
    "authentik_stages_user_login.userloginstage",
    "authentik_stages_user_logout.userlogoutstage",
    "authentik_stages_identification.identificationstage",
    "authentik_stages_password.passwordstage",
    "authentik_stages_email.emailstage",
    "authentik_stages_authenticator_validate.authenticatorvalidatestage",
    "authentik_policies_expression.expressionpolicy",
    "authentik_policies_password.passwordpolicy",
    "authentik_policies_reputation.reputationpolicy",
    "authentik_policies.policybinding",
    "authentik_core.group",
    "authentik_core.user",
    "authentik_blueprints.metaapplyblueprint",
];

/// Objects per model, each a JSON object with a numeric "pk".
#[derive(Default)]
struct Memory {
    objects: HashMap<String, Vec<Map<String, Value>>>,
    next_pk: u64,
}

impl Memory {
    fn count(&self, model: &str) -> usize {
        self.objects.get(model).map_or(0, Vec::len)
    }

    fn matching(&self, model: &str, query: &[(String, Value)]) -> Option<&Map<String, Value>> {
        self.objects
            .get(model)?
            .iter()
            .find(|o| query.iter().all(|(k, v)| o.get(k) == Some(v)))
    }
}

impl Lookup for Memory {
    async fn find_object(
        &mut self,
        model: &str,
        query: &[(String, Value)],
        at: Pos,
    ) -> BlueprintResult<Option<Value>> {
        if !MODELS.contains(&model) {
            return Err(BlueprintError::new(
                at,
                format!("!Find: unknown model {model}"),
            ));
        }
        Ok(self
            .matching(model, query)
            .map(|o| Value::Object(o.clone())))
    }
}

impl Target for Memory {
    fn knows(&self, model: &str) -> bool {
        MODELS.contains(&model)
    }

    async fn find_existing(
        &mut self,
        model: &str,
        identifiers: &Map<String, Value>,
        _at: Pos,
    ) -> BlueprintResult<Option<Value>> {
        let query: Vec<(String, Value)> = identifiers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(self.matching(model, &query).map(|o| o["pk"].clone()))
    }

    async fn create(
        &mut self,
        model: &str,
        identifiers: &Map<String, Value>,
        attrs: &Map<String, Value>,
        _at: Pos,
    ) -> BlueprintResult<Value> {
        self.next_pk += 1;
        let mut object = identifiers.clone();
        object.extend(attrs.clone());
        object.insert("pk".into(), json!(self.next_pk));
        self.objects
            .entry(model.to_owned())
            .or_default()
            .push(object);
        Ok(json!(self.next_pk))
    }

    async fn update(
        &mut self,
        model: &str,
        pk: &Value,
        identifiers: &Map<String, Value>,
        attrs: &Map<String, Value>,
        _at: Pos,
    ) -> BlueprintResult<bool> {
        let mut attrs = attrs.clone();
        attrs.extend(identifiers.clone().into_iter().filter(|(k, _)| k != "pk"));
        let object = self
            .objects
            .get_mut(model)
            .and_then(|all| all.iter_mut().find(|o| o.get("pk") == Some(pk)))
            .expect("exists");
        let changed = attrs.iter().any(|(k, v)| object.get(k) != Some(v));
        object.extend(attrs.clone());
        Ok(changed)
    }

    async fn delete(&mut self, model: &str, pk: &Value, _at: Pos) -> BlueprintResult<()> {
        if let Some(all) = self.objects.get_mut(model) {
            all.retain(|o| o.get("pk") != Some(pk));
        }
        Ok(())
    }
}

fn shared_blueprints() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/blueprints")
}

fn no_env(_: &str) -> Result<Option<String>, akin_blueprint::env::EnvRefused> {
    Ok(None)
}

async fn import(
    memory: &mut Memory,
    bytes: &[u8],
    context: Value,
) -> BlueprintResult<Vec<akin_blueprint::apply::Change>> {
    let blueprint = load(bytes)?;
    let options = ImportOptions {
        context: context.as_object().cloned().unwrap_or_default(),
        env: &no_env,
        files: None,
        available: &|path, name| {
            akin_blueprint::shipped::find(path, name)
                .map(|s| load(s.text.as_bytes()).expect("shipped blueprints load"))
        },
    };
    apply(&blueprint, &options, memory).await
}

#[tokio::test]
async fn every_shared_blueprint_applies_and_reapplies_without_change() {
    let mut files: Vec<PathBuf> = ["default", "example"]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(shared_blueprints().join(dir))
                .expect("shared/blueprints is beside the repository")
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let mut memory = Memory::default();
        let first = import(&mut memory, &bytes, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            first.iter().any(|c| c.action == Action::Created),
            "{}",
            file.display()
        );
        let counts: Vec<usize> = MODELS.iter().map(|m| memory.count(m)).collect();
        let second = import(&mut memory, &bytes, json!({})).await.unwrap();
        assert!(
            second.iter().all(|c| matches!(
                c.action,
                Action::Unchanged | Action::Applied | Action::Skipped
            )),
            "{}: re-import changed {:?}",
            file.display(),
            second
                .iter()
                .filter(|c| !matches!(
                    c.action,
                    Action::Unchanged | Action::Applied | Action::Skipped
                ))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            counts,
            MODELS.iter().map(|m| memory.count(m)).collect::<Vec<_>>(),
            "{}",
            file.display()
        );
    }
}

#[tokio::test]
async fn akins_own_blueprints_apply_and_reapply_without_change() {
    for shipped in akin_blueprint::shipped::SHIPPED {
        let mut memory = Memory::default();
        let first = import(&mut memory, shipped.text.as_bytes(), json!({}))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", shipped.path));
        assert!(
            first.iter().all(|c| c.action == Action::Created),
            "{}: {first:?}",
            shipped.path
        );
        let second = import(&mut memory, shipped.text.as_bytes(), json!({}))
            .await
            .unwrap();
        assert!(
            second.iter().all(|c| c.action == Action::Unchanged),
            "{}: {second:?}",
            shipped.path
        );
    }
}

#[tokio::test]
async fn metaapplyblueprint_applies_a_shipped_blueprint_first() {
    let mut memory = Memory::default();
    let changes = import(
        &mut memory,
        b"version: 1\nentries:\n- model: authentik_blueprints.metaapplyblueprint\n  attrs:\n    identifiers: {path: default/invalidation.yaml}\n- model: authentik_blueprints.metaapplyblueprint\n  attrs:\n    identifiers: {name: not shipped}\n    required: false\n- model: authentik_flows.flowstagebinding\n  identifiers:\n    target: !Find [authentik_flows.flow, [slug, default-invalidation-flow]]\n    stage: !Find [authentik_stages_user_logout.userlogoutstage, [name, default-invalidation-logout]]\n    order: 50\n",
        json!({}),
    )
    .await
    .unwrap();
    let actions: Vec<Action> = changes.iter().map(|c| c.action).collect();
    assert_eq!(actions, [Action::Applied, Action::Skipped, Action::Created]);
    assert_eq!(memory.count("authentik_flows.flow"), 1);

    let error = import(&mut memory, b"version: 1\nentries:\n- model: authentik_blueprints.metaapplyblueprint\n  attrs:\n    identifiers: {name: not shipped}\n", json!({}))
        .await
        .unwrap_err();
    assert!(error.message.contains("no available blueprint"), "{error}");
}

#[tokio::test]
async fn the_invitation_blueprint_builds_what_it_describes() {
    let bytes = std::fs::read(shared_blueprints().join("example/flows-invitation-enrollment.yaml"))
        .unwrap();
    let mut memory = Memory::default();
    import(&mut memory, &bytes, json!({})).await.unwrap();
    assert_eq!(memory.count("authentik_flows.flow"), 3);
    assert_eq!(
        memory.count("authentik_stages_invitation.invitationstage"),
        3
    );
    assert_eq!(memory.count("authentik_stages_prompt.prompt"), 5);
    assert_eq!(memory.count("authentik_flows.flowstagebinding"), 15);
    assert_eq!(memory.count("authentik_stages_invitation.invitation"), 5);
    let group_pk = memory
        .matching(
            "authentik_core.group",
            &[("name".into(), json!("engineering-team"))],
        )
        .unwrap()["pk"]
        .clone();
    let stage = memory
        .matching(
            "authentik_stages_user_write.userwritestage",
            &[(
                "name".into(),
                json!("invitation-enrollment-user-write-internal-engineering"),
            )],
        )
        .unwrap();
    assert_eq!(
        stage["create_users_group"], group_pk,
        "!KeyOf resolved to the group's pk"
    );
    let invitation = memory
        .matching(
            "authentik_stages_invitation.invitation",
            &[(
                "name".into(),
                json!("example-internal-department-invitation"),
            )],
        )
        .unwrap();
    assert_eq!(
        invitation["fixed_data"],
        json!({"attributes": {"department": "Engineering", "team": "Backend"}})
    );
    assert_eq!(invitation["expires"], "2028-12-31T23:59:59Z");
}

#[tokio::test]
async fn context_parameterises_the_minimal_blueprint() {
    let bytes =
        std::fs::read(shared_blueprints().join("example/flows-invitation-enrollment-minimal.yaml"))
            .unwrap();
    let mut memory = Memory::default();
    import(
        &mut memory,
        &bytes,
        json!({"flow_slug": "partners", "flow_name": "Partners"}),
    )
    .await
    .unwrap();
    let flow = memory
        .matching(
            "authentik_flows.flow",
            &[("slug".into(), json!("partners"))],
        )
        .unwrap();
    assert_eq!(flow["name"], "Partners");
    assert!(
        memory
            .matching(
                "authentik_stages_prompt.prompt",
                &[(
                    "name".into(),
                    json!("invitation-enrollment-field-username-partners")
                )]
            )
            .is_some()
    );
}

#[tokio::test]
async fn states_conditions_and_errors() {
    let mut memory = Memory::default();
    let changes = import(
        &mut memory,
        b"version: 1\nentries:\n- model: authentik_core.group\n  identifiers: {name: a}\n  attrs: {is_superuser: false}\n- model: authentik_core.group\n  state: created\n  identifiers: {name: a}\n  attrs: {is_superuser: true}\n- model: authentik_core.group\n  conditions: [false]\n  identifiers: {name: skipped}\n",
        json!({}),
    )
    .await
    .unwrap();
    let actions: Vec<Action> = changes.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [Action::Created, Action::Unchanged, Action::Skipped]
    );
    assert_eq!(
        memory
            .matching("authentik_core.group", &[("name".into(), json!("a"))])
            .unwrap()["is_superuser"],
        false,
        "created never updates"
    );

    let changes = import(&mut memory, b"version: 1\nentries:\n- model: authentik_core.group\n  state: absent\n  identifiers: {name: a}\n", json!({})).await.unwrap();
    assert_eq!(changes[0].action, Action::Deleted);
    assert_eq!(memory.count("authentik_core.group"), 0);

    import(
        &mut memory,
        b"version: 1\nentries:\n- model: authentik_core.group\n  identifiers: {name: b}\n",
        json!({}),
    )
    .await
    .unwrap();
    let error = import(&mut memory, b"version: 1\nentries:\n- model: authentik_core.group\n  state: must_created\n  identifiers: {name: b}\n", json!({})).await.unwrap_err();
    assert_eq!(error.entry, Some(0));
    assert!(error.message.contains("already exists"), "{error}");

    let error = import(&mut memory, b"version: 1\nentries:\n- model: authentik_core.group\n  identifiers: {name: c}\n  attrs: {parent: !KeyOf later}\n- model: authentik_core.group\n  id: later\n  identifiers: {name: d}\n", json!({})).await.unwrap_err();
    assert_eq!(
        (error.entry, error.at),
        (Some(0), Some(Pos { line: 5, col: 19 }))
    );

    let error = import(
        &mut memory,
        b"version: 1\nentries:\n- model: authentik_core.nothing\n  identifiers: {name: x}\n",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(error.message.contains("unknown model"), "{error}");

    let error = import(
        &mut memory,
        b"version: 1\nentries:\n- model: authentik_core.group\n  attrs: {name: x}\n",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(error.message.contains("no identifiers"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    /// Arbitrary text never panics the loader.
    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let _ = load(text.as_bytes());
    }

    /// YAML-shaped text built from blueprint tokens and tags never panics it either.
    #[test]
    fn random_yaml_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("version: 1\n"), Just("entries:\n"), Just("- model: authentik_core.group\n"),
        Just("  identifiers: {name: x}\n"), Just("  attrs: "), Just("!KeyOf "), Just("!Find ["),
        Just("!Context "), Just("!Format ["), Just("!If ["), Just("!Condition ["), Just("!Enumerate ["),
        Just("!Index "), Just("!Value "), Just("!AtIndex ["), Just("!ParseJSON "), Just("&a "), Just("*a "),
        Just("<<: "), Just("["), Just("]"), Just("{"), Just("}"), Just(", "), Just(": "), Just("- "),
        Just("\n"), Just("  "), Just("'q'"), Just("\"d\""), Just("yes"), Just("12"), Just("~"),
    ], 0..40)) {
        let text: String = parts.concat();
        let _ = load(text.as_bytes());
    }
}

/// A `context:` value may itself be a tag: `!Context` inside the context sees the rest of
/// it (and the import's overrides), as authentik resolves it (issue 13, point 15).
#[tokio::test]
async fn context_values_may_refer_to_each_other() {
    let yaml = b"version: 1\ncontext:\n  greeting: !Format ['%s team', !Context team]\n  team: blue\n  loop_a: !Context loop_b\n  loop_b: !Context loop_a\nentries:\n  - model: authentik_core.group\n    identifiers: {name: !Context greeting}\n";
    let mut memory = Memory::default();
    import(&mut memory, yaml, json!({})).await.unwrap();
    assert!(
        memory
            .matching(
                "authentik_core.group",
                &[("name".into(), json!("blue team"))]
            )
            .is_some()
    );
    // The import's own context overrides the blueprint's, and what refers to it follows.
    let mut memory = Memory::default();
    import(&mut memory, yaml, json!({"team": "red"}))
        .await
        .unwrap();
    assert!(
        memory
            .matching(
                "authentik_core.group",
                &[("name".into(), json!("red team"))]
            )
            .is_some()
    );
}
