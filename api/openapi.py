"""The OpenAPI 3.1 document, made from the command line's own parsers: one operation per command, whose fields
are the command's options, so the document can never disagree with what the server accepts."""

from __future__ import annotations

import argparse

from api.commands import fields_of
from governance.cli import main as cli

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "reference": {"type": "string"}},
          "required": ["error"]}


def _schema(action: argparse.Action, remote: cli.Remote) -> dict:
    if action.dest in remote.uploads:
        schema = {"type": "object", "description": "a file sent first to POST /api/v1/uploads",
                  "properties": {"upload": {"type": "string"}, "path": {"type": "string"}}, "required": ["upload"]}
    elif isinstance(action, argparse._StoreTrueAction):
        schema = {"type": "boolean"}
    else:
        kind = {int: "integer", float: "number"}.get(action.type, "string")
        schema = {"type": kind}
        if action.choices:
            schema["enum"] = list(action.choices)
        if isinstance(action, argparse._AppendAction):
            schema = {"type": "array", "items": schema}
    if action.help and action.help != argparse.SUPPRESS:
        schema["description"] = action.help.replace("%%", "%")
    if action.default not in (None, argparse.SUPPRESS, False, []):
        schema["default"] = action.default
    return schema


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield words, parser
        return
    helps = {choice.dest: choice.help for choice in groups[0]._choices_actions}
    for word, sub in groups[0].choices.items():
        sub.description = sub.description or helps.get(word)
        yield from _commands(sub, (*words, word))


def _operation(words: tuple[str, ...], parser: argparse.ArgumentParser) -> dict:
    name = " ".join(words)
    remote = cli.REMOTE.get(name, cli.Remote())
    fields = fields_of(parser)
    arguments = {"type": "object", "additionalProperties": False,
                 "properties": {a.dest: _schema(a, remote) for a in fields},
                 "required": [a.dest for a in fields if a.required or not a.option_strings]}
    body = {"type": "object", "properties": {"arguments": arguments}, "required": ["arguments"]}
    if remote.secrets:
        body["properties"]["secrets"] = {
            "type": "object", "properties": {s: {"type": "string", "writeOnly": True} for s in remote.secrets},
            "description": "passwords the command asks for: a vote is a signature and needs the signer's password"}
    answers = {
        "200": {"description": "the command's result, as `python -m governance … --json` prints it",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "result": {"type": "object"}, "exit_code": {"type": "integer"}}}}}},
        **{code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
           for code, text in (("400", "invalid arguments, naming the field"), ("401", "no valid API token"),
                              ("403", "the token's account lacks the permission (named in the error)"),
                              ("429", "too many failed authentications"))}}
    if remote.job:
        answers = {"202": {"description": "a job: follow it at GET /api/v1/jobs/{id}"},
                   **{k: v for k, v in answers.items() if k != "200"}}
    return {"post": {"operationId": "_".join(words).replace("-", "_"), "summary": parser.description or name,
                     "tags": [words[0]],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                     "responses": answers}}


def document(parser: argparse.ArgumentParser) -> dict:
    paths = {f"/api/v1/commands/{'/'.join(words)}": _operation(words, sub) for words, sub in _commands(parser)
             if " ".join(words) not in cli.LOCAL_ONLY}
    paths["/api/v1/uploads"] = {"post": {
        "operationId": "upload", "summary": "upload a file a command reads (streamed, size-limited)",
        "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}, "description": "file name"}],
        "requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {"201": {"description": "{\"upload\": id}"},
                      "413": {"description": "over QUORUM_MAX_UPLOAD_MB: nothing kept",
                              "content": {"application/json": {"schema": _ERROR}}}}}}
    paths["/api/v1/jobs/{job_id}"] = {"get": {
        "operationId": "job", "summary": "a job's state, progress and, once done, its result",
        "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "{id, command, state, fraction, message, result?, error?, file?}"},
                      "404": {"description": "no such job of yours"}}}}
    paths["/api/v1/jobs/{job_id}/file"] = {"get": {
        "operationId": "job_file", "summary": "the file a job wrote (a PDF, a pack, a zip of a folder)",
        "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the file"}}}}
    paths["/api/v1/whoami"] = {"get": {"operationId": "whoami", "summary": "the account the token acts as",
                                       "responses": {"200": {"description": "{user_name, display_name, role}"}}}}
    return {"openapi": "3.1.0",
            "info": {"title": "Quorum API", "version": "1",
                     "description": "Every `python -m governance` command, run by the server on its workspace as "
                                    "the token's account. Requests carry `Authorization: Bearer <token>`."},
            "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
            "security": [{"token": []}],
            "paths": paths}
