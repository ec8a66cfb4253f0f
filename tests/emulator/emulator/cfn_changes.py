"""Change-set decisions: what a change set changes, when it changes nothing, and whether a
template's Rules let it be made. Plain functions over templates and parameter values, and the
three moto methods (ResourceMap.build_resource_diff, Stack.has_parameters, ChangeSet.diff) that
cloudformation.py replaces with them.

moto compared a parameter with the value given last time (typed, or absent when it was the
default), so SAM's second deploy, which names every parameter, always looked like a change; here
values are compared as CloudFormation takes them, defaults filled in.
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import ChangeSet, Stack


def parameter_text(value: Any) -> str:
    """A parameter value as CloudFormation takes it: text (moto hands back a previous value typed)."""
    if isinstance(value, list):
        return ",".join(parameter_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rule_value(node: Any, values: dict[str, Any]) -> Any:
    """A Rules expression over parameter values (Ref, Fn::Equals/Not/And/Or/Contains, and the
    Fn::Join our template uses to test a list for emptiness)."""
    if not isinstance(node, dict):
        return node
    [(function, argument)] = node.items()
    if function == "Ref":
        return values[argument]
    args = [rule_value(a, values) for a in argument] if isinstance(argument, list) else [rule_value(argument, values)]
    if function == "Fn::Equals":
        return str(args[0]) == str(args[1])
    if function == "Fn::Not":
        return not args[0]
    if function == "Fn::And":
        return all(args)
    if function == "Fn::Or":
        return any(args)
    if function == "Fn::Contains":
        return str(args[1]) in [str(v) for v in args[0]]
    if function == "Fn::Join":
        return str(args[0]).join(str(v) for v in args[1])
    raise ValidationError(message=f"Template error: the emulator does not evaluate {function} in Rules")


def check_rules(template: dict[str, Any], given: dict[str, str]) -> None:
    """CloudFormation evaluates a template's Rules before it makes a change set: an assertion
    that fails refuses the request with its AssertDescription."""
    rules = (template or {}).get("Rules") or {}
    if not rules:
        return
    declared = template.get("Parameters") or {}
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        text = given.get(name, parameter_text(spec["Default"]) if "Default" in spec else "")
        values[name] = (
            text.split(",") if spec.get("Type", "String").startswith(("List<", "CommaDelimitedList")) else text
        )
    for name, rule in rules.items():
        if "RuleCondition" in rule and not rule_value(rule["RuleCondition"], values):
            continue
        for assertion in rule.get("Assertions", []):
            if not rule_value(assertion["Assert"], values):
                raise ValidationError(
                    message=assertion.get("AssertDescription") or f"Template error: rule {name} failed"
                )


def effective_parameters(template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """Every parameter's value as text: the given one, else the template's default."""
    declared = template.get("Parameters") or {}
    values = {k: parameter_text(spec["Default"]) for k, spec in declared.items() if "Default" in spec}
    values.update({k: parameter_text(v) for k, v in given.items() if k in declared})
    return values


def build_resource_diff(
    self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """moto's diff compares a parameter with the value given last time, so a default given
    explicitly (as SAM does on an update) looked like a change; compared here by effect."""
    old, new = self._resource_json_map, other_template["Resources"]

    def same(name: str) -> bool:
        # moto writes an empty Properties into a resource declared without one when it makes it.
        return {"Properties": {}, **old[name]} == {"Properties": {}, **new[name]}

    by_action = {
        "Add": [n for n in new if n not in old],
        "Modify": [n for n in new if n in old and not same(n)],
        "Remove": [n for n in old if n not in new],
    }
    if parameters is not None:
        before = {k: parameter_text(v) for k, v in self.resolved_parameters.items()}
        after = effective_parameters(other_template, parameters)
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        for name in new:
            if name in old and same(name) and changed & references(new[name], other_template):
                by_action["Modify"].append(name)
    return by_action


def references(node: Any, template: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    """The names a piece of template depends on: Ref, ${Name} in Fn::Sub, and through a
    Condition (or Fn::If's condition) the names that condition reads."""
    seen = set() if seen is None else seen
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item, template, seen)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                found |= references(value[1:] if isinstance(value, list) else [], template, seen)
            elif key in ("Condition", "Fn::If") and (isinstance(value, str) or isinstance(value, list)):
                name = value if isinstance(value, str) else value[0]
                if isinstance(name, str) and name not in seen:
                    seen.add(name)
                    found |= references((template.get("Conditions") or {}).get(name), template, seen)
                found |= references(value[1:] if isinstance(value, list) else [], template, seen)
            else:
                found |= references(value, template, seen)
    return found


def has_same_parameters(self: Stack, other_parameters: dict[str, Any]) -> bool:
    template = self.template_dict or {}
    return effective_parameters(template, self.parameters or {}) == effective_parameters(template, other_parameters)


def parameter_list(self: Stack) -> list[dict[str, Any]]:
    hidden = set(getattr(self.resource_map, "no_echo_parameter_keys", []))
    return [
        {"ParameterKey": k, "ParameterValue": "****" if k in hidden else parameter_text(v)}
        for k, v in self.resource_map.resolved_parameters.items()
    ]


def change_set_diff(self: ChangeSet) -> list[Any]:
    """The changes, counting resources whose template is unchanged but whose parameters changed
    (moto lists those only when it executes)."""
    resource_map = self.stack.resource_map
    by_action = resource_map.build_resource_diff(
        self.template_dict, self.parameters if self.stack.template_dict else None
    )
    changes = []
    for action, names in by_action.items():
        for name in dict.fromkeys(names):
            source = resource_map._resource_json_map if action == "Remove" else self.template_dict["Resources"]
            changes.append(
                cfn_models.Change(action=action, logical_resource_id=name, resource_type=source[name]["Type"])
            )
    return changes
