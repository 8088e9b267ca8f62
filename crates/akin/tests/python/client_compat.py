"""Drives a running akin with authentik's own Python client (authentik-client on PyPI),
unchanged. Every call below deserializes the response into the client's pydantic models,
so a missing or mistyped field fails here. Usage: client_compat.py BASE_URL TOKEN BLUEPRINT"""

import datetime
import json
import sys

from authentik_client import ApiClient, Configuration
from authentik_client.api import AdminApi, CoreApi, EventsApi, FlowsApi, ManagedApi, PoliciesApi, RootApi, StagesApi
from authentik_client.models import (
    FlowDesignationEnum,
    FlowRequest,
    FlowStageBindingRequest,
    InvitationStageRequest,
    PromptRequest,
    PromptStageRequest,
    PromptTypeEnum,
    GroupRequest,
    IntentEnum,
    InvitationRequest,
    PatchedInvitationRequest,
    PatchedUserRequest,
    PolicyBindingRequest,
    ReputationPolicyRequest,
    TokenRequest,
    UserRequest,
)


def main(base: str, token: str, blueprint: str) -> None:
    config = Configuration(host=f"{base}/api/v3", access_token=token)
    with ApiClient(config) as client:
        core, stages, flows = CoreApi(client), StagesApi(client), FlowsApi(client)
        managed, events = ManagedApi(client), EventsApi(client)

        assert RootApi(client).root_config_retrieve().error_reporting.enabled is False
        assert AdminApi(client).admin_version_retrieve().outdated is False

        me = core.core_users_me_retrieve()
        assert me.user.username == "akadmin" and me.user.is_superuser

        result = managed.managed_blueprints_import_create(file=open(blueprint, "rb").read())
        assert result.success, result.logs
        assert any(b.path.endswith(".yaml") for b in managed.managed_blueprints_available_list())

        flow = flows.flows_instances_retrieve("default-enrollment-flow")
        assert flow.designation.value == "enrollment" and len(flow.stages) == 4
        assert flows.flows_instances_list(designation=FlowDesignationEnum.ENROLLMENT).pagination.count >= 1

        group = core.core_groups_create(GroupRequest(name="staff"))
        user = core.core_users_create(UserRequest(username="ann", name="Ann", email="ann@example.com", groups=[group.pk]))
        assert core.core_users_list(username="ann").results[0].groups == [group.pk]
        assert core.core_users_partial_update(user.pk, PatchedUserRequest(name="Ann B")).name == "Ann B"
        assert [g.name for g in core.core_groups_list().results] == ["akin Admins", "staff"]

        created = core.core_tokens_create(TokenRequest(identifier="ci", intent=IntentEnum.API, expiring=False))
        assert created.user_obj.username == "akadmin"
        assert len(core.core_tokens_view_key_retrieve("ci").key) == 128

        invitation = stages.stages_invitation_invitations_create(
            InvitationRequest(
                name="jane",
                flow=flow.pk,
                single_use=True,
                fixed_data={"email": "jane@example.com"},
                expires=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc),
            )
        )
        assert invitation.created_by.username == "akadmin" and invitation.flow_obj.slug == flow.slug
        listed = stages.stages_invitation_invitations_list(flow__slug=flow.slug)
        assert [i.name for i in listed.results] == ["jane"]
        patched = stages.stages_invitation_invitations_partial_update(
            invitation.pk, PatchedInvitationRequest(fixed_data={"email": "j@example.com"})
        )
        assert patched.fixed_data == {"email": "j@example.com"}
        assert stages.stages_invitation_invitations_retrieve(invitation.pk).single_use
        assert stages.stages_invitation_invitations_used_by_list(invitation.pk) == []
        used_by = flows.flows_instances_used_by_list(flow.slug)
        assert {u.action.value for u in used_by} == {"cascade", "set_null"}, used_by
        assert any(u.model_name == "user" for u in core.core_groups_used_by_list(group.pk))
        stages.stages_invitation_invitations_destroy(invitation.pk)

        # A flow built through the client: prompt, prompt stage, invitation stage, flow,
        # bindings; then run through the executor's raw variant (its challenges are
        # polymorphic, so scripts read them as JSON).
        prompt = stages.stages_prompt_prompts_create(
            PromptRequest(name="c-email", field_key="email", label="Email", type=PromptTypeEnum.EMAIL)
        )
        prompt_stage = stages.stages_prompt_stages_create(PromptStageRequest(name="c-prompt", fields=[prompt.pk]))
        invitation_stage = stages.stages_invitation_stages_create(
            InvitationStageRequest(name="c-invitation", continue_flow_without_invitation=False)
        )
        built = flows.flows_instances_create(
            FlowRequest(name="Client", slug="client-built", title="Built by the client", designation=FlowDesignationEnum.ENROLLMENT)
        )
        for order, stage in enumerate([invitation_stage.pk, prompt_stage.pk]):
            flows.flows_bindings_create(FlowStageBindingRequest(target=built.pk, stage=stage, order=order))
        assert [b.order for b in flows.flows_bindings_list(target=built.pk).results] == [0, 1]
        assert stages.stages_prompt_stages_retrieve(prompt_stage.pk).fields == [prompt.pk]
        raw = flows.flows_executor_get_without_preload_content("client-built", query="")
        assert raw.status == 200 and json.loads(raw.data)["code"] == "invitation_missing", raw.data

        # A reputation policy, bound negated to that flow; the polymorphic list and the
        # scores read back into the client's models.
        policies = PoliciesApi(client)
        gate = policies.policies_reputation_create(
            ReputationPolicyRequest(name="c-reputation", check_ip=True, check_username=False, threshold=-3)
        )
        assert gate.threshold == -3 and gate.component == "ak-policy-reputation-form"
        bound = policies.policies_bindings_create(PolicyBindingRequest(policy=gate.pk, target=built.pk, order=0, negate=True))
        assert bound.policy_obj.name == "c-reputation"
        assert policies.policies_reputation_retrieve(gate.pk).bound_to == 1
        assert [p.name for p in policies.policies_all_list(search="c-reputation").results] == ["c-reputation"]
        assert policies.policies_reputation_scores_list(ip="192.0.2.1").pagination.count == 0

        assert core.core_groups_retrieve(group.pk).name == "staff"
        assert [t.identifier for t in core.core_tokens_list(identifier="ci").results] == ["ci"]
        assert core.core_tokens_retrieve("ci").intent.value == "api"
        assert core.core_users_retrieve(user.pk).username == "ann"

        core.core_users_destroy(user.pk)
        actions = [e.action.value for e in events.events_events_list().results]
        assert "model_created" in actions and "model_deleted" in actions
    print("authentik-client drove akin unchanged")


if __name__ == "__main__":
    main(*sys.argv[1:4])
