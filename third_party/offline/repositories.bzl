"""Offline stand-ins for rules_cc and rules_java, for Debian's bazel-bootstrap.

Bazel's own tools (@bazel_tools) load rules_cc and rules_java. Release
binaries of Bazel carry those archives inside; Debian's bazel-bootstrap does
not and would download them. A Bazel without a release version (Debian's
reports "no_version") therefore gets two local repositories whose .bzl files
only forward to the native rules, which is all @bazel_tools needs from them.
Release binaries (bazelisk) get nothing from here.
"""

def offline_rule_repositories():
    if getattr(native, "bazel_version", None):
        return
    for name in ["rules_cc", "rules_java"]:
        native.local_repository(
            name = name,
            path = "third_party/offline/" + name,
        )
