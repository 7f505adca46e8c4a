from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelVersionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_VERSION_STATUS_UNSPECIFIED: _ClassVar[ModelVersionStatus]
    MODEL_VERSION_STATUS_PENDING_REGISTRATION: _ClassVar[ModelVersionStatus]
    MODEL_VERSION_STATUS_READY: _ClassVar[ModelVersionStatus]
    MODEL_VERSION_STATUS_FAILED_REGISTRATION: _ClassVar[ModelVersionStatus]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_NONE: _ClassVar[Role]
    ROLE_READER: _ClassVar[Role]
    ROLE_WRITER: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
MODEL_VERSION_STATUS_UNSPECIFIED: ModelVersionStatus
MODEL_VERSION_STATUS_PENDING_REGISTRATION: ModelVersionStatus
MODEL_VERSION_STATUS_READY: ModelVersionStatus
MODEL_VERSION_STATUS_FAILED_REGISTRATION: ModelVersionStatus
ROLE_UNSPECIFIED: Role
ROLE_NONE: Role
ROLE_READER: Role
ROLE_WRITER: Role
ROLE_ADMIN: Role
RPC_POLICY_FIELD_NUMBER: _ClassVar[int]
rpc_policy: _descriptor.FieldDescriptor

class Tag(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class DatasetReference(_message.Message):
    __slots__ = ("name", "digest", "source_uri")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URI_FIELD_NUMBER: _ClassVar[int]
    name: str
    digest: str
    source_uri: str
    def __init__(self, name: _Optional[str] = ..., digest: _Optional[str] = ..., source_uri: _Optional[str] = ...) -> None: ...

class Lineage(_message.Message):
    __slots__ = ("run_id", "run_link", "experiment_id", "code_version", "datasets", "parent_model_uri", "parent_hidden")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_LINK_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    PARENT_MODEL_URI_FIELD_NUMBER: _ClassVar[int]
    PARENT_HIDDEN_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    run_link: str
    experiment_id: str
    code_version: str
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetReference]
    parent_model_uri: str
    parent_hidden: bool
    def __init__(self, run_id: _Optional[str] = ..., run_link: _Optional[str] = ..., experiment_id: _Optional[str] = ..., code_version: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[DatasetReference, _Mapping]]] = ..., parent_model_uri: _Optional[str] = ..., parent_hidden: _Optional[bool] = ...) -> None: ...

class RegisteredModel(_message.Message):
    __slots__ = ("name", "description", "creation_timestamp", "last_updated_timestamp", "tags", "aliases", "latest_versions", "last_version", "created_by", "protected_aliases", "protected_stages")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_ALIASES_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_STAGES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    creation_timestamp: int
    last_updated_timestamp: int
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    aliases: _containers.RepeatedCompositeFieldContainer[ModelAlias]
    latest_versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    last_version: int
    created_by: str
    protected_aliases: _containers.RepeatedScalarFieldContainer[str]
    protected_stages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., creation_timestamp: _Optional[int] = ..., last_updated_timestamp: _Optional[int] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., aliases: _Optional[_Iterable[_Union[ModelAlias, _Mapping]]] = ..., latest_versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., last_version: _Optional[int] = ..., created_by: _Optional[str] = ..., protected_aliases: _Optional[_Iterable[str]] = ..., protected_stages: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelAlias(_message.Message):
    __slots__ = ("alias", "version")
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    alias: str
    version: int
    def __init__(self, alias: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("name", "version", "creation_timestamp", "last_updated_timestamp", "description", "source", "current_stage", "status", "status_message", "tags", "aliases", "lineage", "created_by", "run_id", "registry_held_artifacts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_HELD_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    source: str
    current_stage: str
    status: ModelVersionStatus
    status_message: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    lineage: Lineage
    created_by: str
    run_id: str
    registry_held_artifacts: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., creation_timestamp: _Optional[int] = ..., last_updated_timestamp: _Optional[int] = ..., description: _Optional[str] = ..., source: _Optional[str] = ..., current_stage: _Optional[str] = ..., status: _Optional[_Union[ModelVersionStatus, str]] = ..., status_message: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., aliases: _Optional[_Iterable[str]] = ..., lineage: _Optional[_Union[Lineage, _Mapping]] = ..., created_by: _Optional[str] = ..., run_id: _Optional[str] = ..., registry_held_artifacts: _Optional[bool] = ...) -> None: ...

class ArtifactFile(_message.Message):
    __slots__ = ("path", "size", "sha256")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    path: str
    size: int
    sha256: str
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class ModelEvent(_message.Message):
    __slots__ = ("event_id", "timestamp", "actor", "kind", "model_name", "version", "before_json", "after_json")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BEFORE_JSON_FIELD_NUMBER: _ClassVar[int]
    AFTER_JSON_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    timestamp: int
    actor: str
    kind: str
    model_name: str
    version: int
    before_json: str
    after_json: str
    def __init__(self, event_id: _Optional[int] = ..., timestamp: _Optional[int] = ..., actor: _Optional[str] = ..., kind: _Optional[str] = ..., model_name: _Optional[str] = ..., version: _Optional[int] = ..., before_json: _Optional[str] = ..., after_json: _Optional[str] = ...) -> None: ...

class Webhook(_message.Message):
    __slots__ = ("webhook_id", "url", "events", "models", "description", "enabled", "creation_timestamp", "created_by", "last_updated_timestamp")
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedScalarFieldContainer[str]
    description: str
    enabled: bool
    creation_timestamp: int
    created_by: str
    last_updated_timestamp: int
    def __init__(self, webhook_id: _Optional[int] = ..., url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., enabled: _Optional[bool] = ..., creation_timestamp: _Optional[int] = ..., created_by: _Optional[str] = ..., last_updated_timestamp: _Optional[int] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("delivery_id", "webhook_id", "event_id", "kind", "status", "attempts", "last_response_code", "last_error", "next_attempt_timestamp", "creation_timestamp", "last_attempt_timestamp")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_ATTEMPT_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    delivery_id: int
    webhook_id: int
    event_id: int
    kind: str
    status: str
    attempts: int
    last_response_code: int
    last_error: str
    next_attempt_timestamp: int
    creation_timestamp: int
    last_attempt_timestamp: int
    def __init__(self, delivery_id: _Optional[int] = ..., webhook_id: _Optional[int] = ..., event_id: _Optional[int] = ..., kind: _Optional[str] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., last_response_code: _Optional[int] = ..., last_error: _Optional[str] = ..., next_attempt_timestamp: _Optional[int] = ..., creation_timestamp: _Optional[int] = ..., last_attempt_timestamp: _Optional[int] = ...) -> None: ...

class AccessToken(_message.Message):
    __slots__ = ("token_id", "principal", "role", "description", "prefix", "creation_timestamp", "expiration_timestamp", "revocation_timestamp", "created_by")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    token_id: int
    principal: str
    role: Role
    description: str
    prefix: str
    creation_timestamp: int
    expiration_timestamp: int
    revocation_timestamp: int
    created_by: str
    def __init__(self, token_id: _Optional[int] = ..., principal: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., description: _Optional[str] = ..., prefix: _Optional[str] = ..., creation_timestamp: _Optional[int] = ..., expiration_timestamp: _Optional[int] = ..., revocation_timestamp: _Optional[int] = ..., created_by: _Optional[str] = ...) -> None: ...

class ModelGrant(_message.Message):
    __slots__ = ("principal", "role")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    principal: str
    role: Role
    def __init__(self, principal: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ...) -> None: ...

class RpcPolicy(_message.Message):
    __slots__ = ("role", "global_role", "read_pool")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_ROLE_FIELD_NUMBER: _ClassVar[int]
    READ_POOL_FIELD_NUMBER: _ClassVar[int]
    role: Role
    global_role: bool
    read_pool: bool
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., global_role: _Optional[bool] = ..., read_pool: _Optional[bool] = ...) -> None: ...

class CreateRegisteredModelRequest(_message.Message):
    __slots__ = ("name", "description", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ...) -> None: ...

class CreateRegisteredModelResponse(_message.Message):
    __slots__ = ("registered_model",)
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    registered_model: RegisteredModel
    def __init__(self, registered_model: _Optional[_Union[RegisteredModel, _Mapping]] = ...) -> None: ...

class GetRegisteredModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetRegisteredModelResponse(_message.Message):
    __slots__ = ("registered_model",)
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    registered_model: RegisteredModel
    def __init__(self, registered_model: _Optional[_Union[RegisteredModel, _Mapping]] = ...) -> None: ...

class UpdateRegisteredModelRequest(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class UpdateRegisteredModelResponse(_message.Message):
    __slots__ = ("registered_model",)
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    registered_model: RegisteredModel
    def __init__(self, registered_model: _Optional[_Union[RegisteredModel, _Mapping]] = ...) -> None: ...

class RenameRegisteredModelRequest(_message.Message):
    __slots__ = ("name", "new_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    new_name: str
    def __init__(self, name: _Optional[str] = ..., new_name: _Optional[str] = ...) -> None: ...

class RenameRegisteredModelResponse(_message.Message):
    __slots__ = ("registered_model",)
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    registered_model: RegisteredModel
    def __init__(self, registered_model: _Optional[_Union[RegisteredModel, _Mapping]] = ...) -> None: ...

class DeleteRegisteredModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteRegisteredModelResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetRegisteredModelTagRequest(_message.Message):
    __slots__ = ("name", "key", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    value: str
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class SetRegisteredModelTagResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteRegisteredModelTagRequest(_message.Message):
    __slots__ = ("name", "key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: str
    def __init__(self, name: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class DeleteRegisteredModelTagResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetLatestVersionsRequest(_message.Message):
    __slots__ = ("name", "stages")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    name: str
    stages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., stages: _Optional[_Iterable[str]] = ...) -> None: ...

class GetLatestVersionsResponse(_message.Message):
    __slots__ = ("model_versions",)
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    model_versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    def __init__(self, model_versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ...) -> None: ...

class CreateModelVersionRequest(_message.Message):
    __slots__ = ("name", "source", "run_id", "run_link", "description", "tags", "lineage", "idempotency_key", "registry_held_artifacts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_LINK_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_HELD_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    run_id: str
    run_link: str
    description: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    lineage: Lineage
    idempotency_key: str
    registry_held_artifacts: bool
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., run_id: _Optional[str] = ..., run_link: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., lineage: _Optional[_Union[Lineage, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., registry_held_artifacts: _Optional[bool] = ...) -> None: ...

class CreateModelVersionResponse(_message.Message):
    __slots__ = ("model_version", "idempotent_replay")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_REPLAY_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    idempotent_replay: bool
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., idempotent_replay: _Optional[bool] = ...) -> None: ...

class GetModelVersionRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetModelVersionResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class UpdateModelVersionRequest(_message.Message):
    __slots__ = ("name", "version", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    description: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class UpdateModelVersionResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class DeleteModelVersionRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class DeleteModelVersionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TransitionModelVersionStageRequest(_message.Message):
    __slots__ = ("name", "version", "stage", "archive_existing_versions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_EXISTING_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    stage: str
    archive_existing_versions: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., stage: _Optional[str] = ..., archive_existing_versions: _Optional[bool] = ...) -> None: ...

class TransitionModelVersionStageResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class SetModelVersionTagRequest(_message.Message):
    __slots__ = ("name", "version", "key", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    key: str
    value: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class SetModelVersionTagResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteModelVersionTagRequest(_message.Message):
    __slots__ = ("name", "version", "key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    key: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., key: _Optional[str] = ...) -> None: ...

class DeleteModelVersionTagResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetRegisteredModelAliasRequest(_message.Message):
    __slots__ = ("name", "alias", "version", "expected_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    version: int
    expected_version: int
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ..., version: _Optional[int] = ..., expected_version: _Optional[int] = ...) -> None: ...

class SetRegisteredModelAliasResponse(_message.Message):
    __slots__ = ("model_version", "previous_version")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    previous_version: int
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., previous_version: _Optional[int] = ...) -> None: ...

class DeleteRegisteredModelAliasRequest(_message.Message):
    __slots__ = ("name", "alias")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class DeleteRegisteredModelAliasResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetModelVersionByAliasRequest(_message.Message):
    __slots__ = ("name", "alias")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class GetModelVersionByAliasResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class ResolveModelUriRequest(_message.Message):
    __slots__ = ("uri",)
    URI_FIELD_NUMBER: _ClassVar[int]
    uri: str
    def __init__(self, uri: _Optional[str] = ...) -> None: ...

class ResolveModelUriResponse(_message.Message):
    __slots__ = ("model_version", "path", "resolved_uri")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_URI_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    path: str
    resolved_uri: str
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., path: _Optional[str] = ..., resolved_uri: _Optional[str] = ...) -> None: ...

class SearchRegisteredModelsRequest(_message.Message):
    __slots__ = ("filter", "order_by", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: str
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[str] = ..., order_by: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchRegisteredModelsResponse(_message.Message):
    __slots__ = ("registered_models", "next_page_token")
    REGISTERED_MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    registered_models: _containers.RepeatedCompositeFieldContainer[RegisteredModel]
    next_page_token: str
    def __init__(self, registered_models: _Optional[_Iterable[_Union[RegisteredModel, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SearchModelVersionsRequest(_message.Message):
    __slots__ = ("filter", "order_by", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: str
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[str] = ..., order_by: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchModelVersionsResponse(_message.Message):
    __slots__ = ("model_versions", "next_page_token")
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    next_page_token: str
    def __init__(self, model_versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FindModelVersionsByRunRequest(_message.Message):
    __slots__ = ("run_id", "page_size", "page_token")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    page_size: int
    page_token: str
    def __init__(self, run_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FindModelVersionsByRunResponse(_message.Message):
    __slots__ = ("model_versions", "next_page_token")
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    next_page_token: str
    def __init__(self, model_versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FindModelVersionsByDatasetRequest(_message.Message):
    __slots__ = ("digest", "page_size", "page_token")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    digest: str
    page_size: int
    page_token: str
    def __init__(self, digest: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FindModelVersionsByDatasetResponse(_message.Message):
    __slots__ = ("model_versions", "next_page_token")
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    next_page_token: str
    def __init__(self, model_versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetModelVersionLineageRequest(_message.Message):
    __slots__ = ("name", "version", "max_depth")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    max_depth: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., max_depth: _Optional[int] = ...) -> None: ...

class GetModelVersionLineageResponse(_message.Message):
    __slots__ = ("model_version", "ancestors", "descendants", "truncated")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    DESCENDANTS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    ancestors: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    descendants: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    truncated: bool
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., ancestors: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., descendants: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class ListModelEventsRequest(_message.Message):
    __slots__ = ("name", "after_event_id", "page_size", "version", "alias", "kinds", "actor", "since_timestamp", "until_timestamp")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AFTER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    SINCE_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    UNTIL_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    name: str
    after_event_id: int
    page_size: int
    version: int
    alias: str
    kinds: _containers.RepeatedScalarFieldContainer[str]
    actor: str
    since_timestamp: int
    until_timestamp: int
    def __init__(self, name: _Optional[str] = ..., after_event_id: _Optional[int] = ..., page_size: _Optional[int] = ..., version: _Optional[int] = ..., alias: _Optional[str] = ..., kinds: _Optional[_Iterable[str]] = ..., actor: _Optional[str] = ..., since_timestamp: _Optional[int] = ..., until_timestamp: _Optional[int] = ...) -> None: ...

class ListModelEventsResponse(_message.Message):
    __slots__ = ("events", "next_after_event_id")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ModelEvent]
    next_after_event_id: int
    def __init__(self, events: _Optional[_Iterable[_Union[ModelEvent, _Mapping]]] = ..., next_after_event_id: _Optional[int] = ...) -> None: ...

class GetModelStateAsOfRequest(_message.Message):
    __slots__ = ("name", "as_of_timestamp")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    name: str
    as_of_timestamp: int
    def __init__(self, name: _Optional[str] = ..., as_of_timestamp: _Optional[int] = ...) -> None: ...

class GetModelStateAsOfResponse(_message.Message):
    __slots__ = ("name", "as_of_timestamp", "versions", "aliases", "last_event_id")
    class VersionState(_message.Message):
        __slots__ = ("version", "current_stage", "status")
        VERSION_FIELD_NUMBER: _ClassVar[int]
        CURRENT_STAGE_FIELD_NUMBER: _ClassVar[int]
        STATUS_FIELD_NUMBER: _ClassVar[int]
        version: int
        current_stage: str
        status: ModelVersionStatus
        def __init__(self, version: _Optional[int] = ..., current_stage: _Optional[str] = ..., status: _Optional[_Union[ModelVersionStatus, str]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    as_of_timestamp: int
    versions: _containers.RepeatedCompositeFieldContainer[GetModelStateAsOfResponse.VersionState]
    aliases: _containers.RepeatedCompositeFieldContainer[ModelAlias]
    last_event_id: int
    def __init__(self, name: _Optional[str] = ..., as_of_timestamp: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[GetModelStateAsOfResponse.VersionState, _Mapping]]] = ..., aliases: _Optional[_Iterable[_Union[ModelAlias, _Mapping]]] = ..., last_event_id: _Optional[int] = ...) -> None: ...

class UploadArtifactRequest(_message.Message):
    __slots__ = ("header", "chunk")
    class Header(_message.Message):
        __slots__ = ("name", "version", "path")
        NAME_FIELD_NUMBER: _ClassVar[int]
        VERSION_FIELD_NUMBER: _ClassVar[int]
        PATH_FIELD_NUMBER: _ClassVar[int]
        name: str
        version: int
        path: str
        def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadArtifactRequest.Header
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadArtifactRequest.Header, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadArtifactResponse(_message.Message):
    __slots__ = ("file",)
    FILE_FIELD_NUMBER: _ClassVar[int]
    file: ArtifactFile
    def __init__(self, file: _Optional[_Union[ArtifactFile, _Mapping]] = ...) -> None: ...

class FinalizeModelVersionRequest(_message.Message):
    __slots__ = ("name", "version", "expected_manifest")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    expected_manifest: _containers.RepeatedCompositeFieldContainer[ArtifactFile]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., expected_manifest: _Optional[_Iterable[_Union[ArtifactFile, _Mapping]]] = ...) -> None: ...

class FinalizeModelVersionResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class AbortModelVersionRequest(_message.Message):
    __slots__ = ("name", "version", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    reason: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class AbortModelVersionResponse(_message.Message):
    __slots__ = ("model_version",)
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ...) -> None: ...

class ListArtifactsRequest(_message.Message):
    __slots__ = ("name", "version", "uri", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    uri: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., uri: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListArtifactsResponse(_message.Message):
    __slots__ = ("model_version", "files", "next_page_token")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    files: _containers.RepeatedCompositeFieldContainer[ArtifactFile]
    next_page_token: str
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., files: _Optional[_Iterable[_Union[ArtifactFile, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DownloadArtifactRequest(_message.Message):
    __slots__ = ("name", "version", "path", "offset")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    path: str
    offset: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., path: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadArtifactResponse(_message.Message):
    __slots__ = ("chunk", "file")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    file: ArtifactFile
    def __init__(self, chunk: _Optional[bytes] = ..., file: _Optional[_Union[ArtifactFile, _Mapping]] = ...) -> None: ...

class GetArtifactDownloadUrlsRequest(_message.Message):
    __slots__ = ("name", "version", "paths", "expires_in_seconds", "from_registry")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_REGISTRY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    paths: _containers.RepeatedScalarFieldContainer[str]
    expires_in_seconds: int
    from_registry: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., paths: _Optional[_Iterable[str]] = ..., expires_in_seconds: _Optional[int] = ..., from_registry: _Optional[bool] = ...) -> None: ...

class GetArtifactDownloadUrlsResponse(_message.Message):
    __slots__ = ("supported", "urls", "from_registry")
    class Url(_message.Message):
        __slots__ = ("file", "url")
        FILE_FIELD_NUMBER: _ClassVar[int]
        URL_FIELD_NUMBER: _ClassVar[int]
        file: ArtifactFile
        url: str
        def __init__(self, file: _Optional[_Union[ArtifactFile, _Mapping]] = ..., url: _Optional[str] = ...) -> None: ...
    SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    FROM_REGISTRY_FIELD_NUMBER: _ClassVar[int]
    supported: bool
    urls: _containers.RepeatedCompositeFieldContainer[GetArtifactDownloadUrlsResponse.Url]
    from_registry: bool
    def __init__(self, supported: _Optional[bool] = ..., urls: _Optional[_Iterable[_Union[GetArtifactDownloadUrlsResponse.Url, _Mapping]]] = ..., from_registry: _Optional[bool] = ...) -> None: ...

class SetModelProtectionRequest(_message.Message):
    __slots__ = ("name", "protected_aliases", "protected_stages")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_ALIASES_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_STAGES_FIELD_NUMBER: _ClassVar[int]
    name: str
    protected_aliases: _containers.RepeatedScalarFieldContainer[str]
    protected_stages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., protected_aliases: _Optional[_Iterable[str]] = ..., protected_stages: _Optional[_Iterable[str]] = ...) -> None: ...

class SetModelProtectionResponse(_message.Message):
    __slots__ = ("registered_model",)
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    registered_model: RegisteredModel
    def __init__(self, registered_model: _Optional[_Union[RegisteredModel, _Mapping]] = ...) -> None: ...

class SetModelGrantRequest(_message.Message):
    __slots__ = ("name", "principal", "role")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    principal: str
    role: Role
    def __init__(self, name: _Optional[str] = ..., principal: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ...) -> None: ...

class SetModelGrantResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteModelGrantRequest(_message.Message):
    __slots__ = ("name", "principal")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    principal: str
    def __init__(self, name: _Optional[str] = ..., principal: _Optional[str] = ...) -> None: ...

class DeleteModelGrantResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelGrantsRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelGrantsResponse(_message.Message):
    __slots__ = ("grants", "next_page_token")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[ModelGrant]
    next_page_token: str
    def __init__(self, grants: _Optional[_Iterable[_Union[ModelGrant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateAccessTokenRequest(_message.Message):
    __slots__ = ("principal", "role", "description", "expires_in_seconds")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    principal: str
    role: Role
    description: str
    expires_in_seconds: int
    def __init__(self, principal: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., description: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class CreateAccessTokenResponse(_message.Message):
    __slots__ = ("token", "secret")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    token: AccessToken
    secret: str
    def __init__(self, token: _Optional[_Union[AccessToken, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListAccessTokensRequest(_message.Message):
    __slots__ = ("include_inactive", "page_size", "page_token")
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    include_inactive: bool
    page_size: int
    page_token: str
    def __init__(self, include_inactive: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAccessTokensResponse(_message.Message):
    __slots__ = ("tokens", "next_page_token")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[AccessToken]
    next_page_token: str
    def __init__(self, tokens: _Optional[_Iterable[_Union[AccessToken, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeAccessTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: int
    def __init__(self, token_id: _Optional[int] = ...) -> None: ...

class RevokeAccessTokenResponse(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: AccessToken
    def __init__(self, token: _Optional[_Union[AccessToken, _Mapping]] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("principal", "role", "authentication_required")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    principal: str
    role: Role
    authentication_required: bool
    def __init__(self, principal: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., authentication_required: _Optional[bool] = ...) -> None: ...

class ImportRegisteredModelRequest(_message.Message):
    __slots__ = ("name", "description", "tags", "creation_timestamp", "last_updated_timestamp", "created_by", "imported_from")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FROM_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    creation_timestamp: int
    last_updated_timestamp: int
    created_by: str
    imported_from: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., creation_timestamp: _Optional[int] = ..., last_updated_timestamp: _Optional[int] = ..., created_by: _Optional[str] = ..., imported_from: _Optional[str] = ...) -> None: ...

class ImportRegisteredModelResponse(_message.Message):
    __slots__ = ("registered_model", "created")
    REGISTERED_MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    registered_model: RegisteredModel
    created: bool
    def __init__(self, registered_model: _Optional[_Union[RegisteredModel, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ImportModelVersionRequest(_message.Message):
    __slots__ = ("name", "version", "source", "lineage", "description", "tags", "stage", "status", "status_message", "creation_timestamp", "last_updated_timestamp", "created_by", "registry_held_artifacts", "imported_from")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATED_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_HELD_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FROM_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    source: str
    lineage: Lineage
    description: str
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    stage: str
    status: ModelVersionStatus
    status_message: str
    creation_timestamp: int
    last_updated_timestamp: int
    created_by: str
    registry_held_artifacts: bool
    imported_from: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., source: _Optional[str] = ..., lineage: _Optional[_Union[Lineage, _Mapping]] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., stage: _Optional[str] = ..., status: _Optional[_Union[ModelVersionStatus, str]] = ..., status_message: _Optional[str] = ..., creation_timestamp: _Optional[int] = ..., last_updated_timestamp: _Optional[int] = ..., created_by: _Optional[str] = ..., registry_held_artifacts: _Optional[bool] = ..., imported_from: _Optional[str] = ...) -> None: ...

class ImportModelVersionResponse(_message.Message):
    __slots__ = ("model_version", "already_imported")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALREADY_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    already_imported: bool
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., already_imported: _Optional[bool] = ...) -> None: ...

class ImportRegisteredModelAliasRequest(_message.Message):
    __slots__ = ("name", "alias", "version", "imported_from")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FROM_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    version: int
    imported_from: str
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ..., version: _Optional[int] = ..., imported_from: _Optional[str] = ...) -> None: ...

class ImportRegisteredModelAliasResponse(_message.Message):
    __slots__ = ("model_version", "already_imported")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALREADY_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    model_version: ModelVersion
    already_imported: bool
    def __init__(self, model_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., already_imported: _Optional[bool] = ...) -> None: ...

class WatchModelEventsRequest(_message.Message):
    __slots__ = ("name", "kinds", "alias", "after_event_id", "from_beginning")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    AFTER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_BEGINNING_FIELD_NUMBER: _ClassVar[int]
    name: str
    kinds: _containers.RepeatedScalarFieldContainer[str]
    alias: str
    after_event_id: int
    from_beginning: bool
    def __init__(self, name: _Optional[str] = ..., kinds: _Optional[_Iterable[str]] = ..., alias: _Optional[str] = ..., after_event_id: _Optional[int] = ..., from_beginning: _Optional[bool] = ...) -> None: ...

class WatchModelEventsResponse(_message.Message):
    __slots__ = ("event", "cursor")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    event: ModelEvent
    cursor: int
    def __init__(self, event: _Optional[_Union[ModelEvent, _Mapping]] = ..., cursor: _Optional[int] = ...) -> None: ...

class CreateWebhookRequest(_message.Message):
    __slots__ = ("url", "events", "models", "secret", "description")
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    description: str
    def __init__(self, url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CreateWebhookResponse(_message.Message):
    __slots__ = ("webhook", "secret")
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    webhook: Webhook
    secret: str
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListWebhooksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhooksResponse(_message.Message):
    __slots__ = ("webhooks", "next_page_token")
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[Webhook]
    next_page_token: str
    def __init__(self, webhooks: _Optional[_Iterable[_Union[Webhook, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateWebhookRequest(_message.Message):
    __slots__ = ("webhook_id", "url", "enabled", "description", "replace_events", "events", "replace_models", "models")
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REPLACE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_MODELS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    url: str
    enabled: bool
    description: str
    replace_events: bool
    events: _containers.RepeatedScalarFieldContainer[str]
    replace_models: bool
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, webhook_id: _Optional[int] = ..., url: _Optional[str] = ..., enabled: _Optional[bool] = ..., description: _Optional[str] = ..., replace_events: _Optional[bool] = ..., events: _Optional[_Iterable[str]] = ..., replace_models: _Optional[bool] = ..., models: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateWebhookResponse(_message.Message):
    __slots__ = ("webhook",)
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: Webhook
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ...) -> None: ...

class DeleteWebhookRequest(_message.Message):
    __slots__ = ("webhook_id",)
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    def __init__(self, webhook_id: _Optional[int] = ...) -> None: ...

class DeleteWebhookResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("webhook_id", "status", "page_size", "page_token")
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    status: str
    page_size: int
    page_token: str
    def __init__(self, webhook_id: _Optional[int] = ..., status: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "next_page_token")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    next_page_token: str
    def __init__(self, deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TestWebhookRequest(_message.Message):
    __slots__ = ("webhook_id",)
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    def __init__(self, webhook_id: _Optional[int] = ...) -> None: ...

class TestWebhookResponse(_message.Message):
    __slots__ = ("delivery",)
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    delivery: WebhookDelivery
    def __init__(self, delivery: _Optional[_Union[WebhookDelivery, _Mapping]] = ...) -> None: ...
