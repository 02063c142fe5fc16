import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnrollRequest(_message.Message):
    __slots__ = ("enrolment_token", "csr_pem", "hostname", "os", "agent_version")
    ENROLMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    enrolment_token: str
    csr_pem: bytes
    hostname: str
    os: str
    agent_version: str
    def __init__(self, enrolment_token: _Optional[str] = ..., csr_pem: _Optional[bytes] = ..., hostname: _Optional[str] = ..., os: _Optional[str] = ..., agent_version: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("device_id", "certificate_pem", "ca_certificate_pem", "policy")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    certificate_pem: bytes
    ca_certificate_pem: bytes
    policy: Policy
    def __init__(self, device_id: _Optional[str] = ..., certificate_pem: _Optional[bytes] = ..., ca_certificate_pem: _Optional[bytes] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "batch", "command_result")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    COMMAND_RESULT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    batch: EventBatch
    command_result: CommandResult
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., batch: _Optional[_Union[EventBatch, _Mapping]] = ..., command_result: _Optional[_Union[CommandResult, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("agent_version", "policy_version", "boot_id")
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_version: str
    policy_version: int
    boot_id: str
    def __init__(self, agent_version: _Optional[str] = ..., policy_version: _Optional[int] = ..., boot_id: _Optional[str] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("batch_id", "events")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, batch_id: _Optional[int] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "seq", "time", "user", "typed_text", "window_focus", "web_visit", "screenshot", "agent_status")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TYPED_TEXT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FOCUS_FIELD_NUMBER: _ClassVar[int]
    WEB_VISIT_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_FIELD_NUMBER: _ClassVar[int]
    AGENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    seq: int
    time: _timestamp_pb2.Timestamp
    user: str
    typed_text: TypedText
    window_focus: WindowFocus
    web_visit: WebVisit
    screenshot: Screenshot
    agent_status: AgentStatus
    def __init__(self, event_id: _Optional[str] = ..., seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user: _Optional[str] = ..., typed_text: _Optional[_Union[TypedText, _Mapping]] = ..., window_focus: _Optional[_Union[WindowFocus, _Mapping]] = ..., web_visit: _Optional[_Union[WebVisit, _Mapping]] = ..., screenshot: _Optional[_Union[Screenshot, _Mapping]] = ..., agent_status: _Optional[_Union[AgentStatus, _Mapping]] = ...) -> None: ...

class TypedText(_message.Message):
    __slots__ = ("text", "deleted_text", "application", "window_title", "pasted")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DELETED_TEXT_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_TITLE_FIELD_NUMBER: _ClassVar[int]
    PASTED_FIELD_NUMBER: _ClassVar[int]
    text: str
    deleted_text: str
    application: str
    window_title: str
    pasted: bool
    def __init__(self, text: _Optional[str] = ..., deleted_text: _Optional[str] = ..., application: _Optional[str] = ..., window_title: _Optional[str] = ..., pasted: _Optional[bool] = ...) -> None: ...

class WindowFocus(_message.Message):
    __slots__ = ("title", "process_name", "process_path", "pid")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROCESS_NAME_FIELD_NUMBER: _ClassVar[int]
    PROCESS_PATH_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    title: str
    process_name: str
    process_path: str
    pid: int
    def __init__(self, title: _Optional[str] = ..., process_name: _Optional[str] = ..., process_path: _Optional[str] = ..., pid: _Optional[int] = ...) -> None: ...

class WebVisit(_message.Message):
    __slots__ = ("url", "title", "browser", "visit_time")
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    VISIT_TIME_FIELD_NUMBER: _ClassVar[int]
    url: str
    title: str
    browser: str
    visit_time: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., title: _Optional[str] = ..., browser: _Optional[str] = ..., visit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Screenshot(_message.Message):
    __slots__ = ("image", "format", "width", "height", "reason", "trigger_seq")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_SEQ_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    format: str
    width: int
    height: int
    reason: str
    trigger_seq: int
    def __init__(self, image: _Optional[bytes] = ..., format: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., reason: _Optional[str] = ..., trigger_seq: _Optional[int] = ...) -> None: ...

class AgentStatus(_message.Message):
    __slots__ = ("cpu_percent", "rss_bytes", "spool_depth", "spool_bytes", "dropped", "agent_version", "policy_version")
    class DroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    SPOOL_DEPTH_FIELD_NUMBER: _ClassVar[int]
    SPOOL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    rss_bytes: int
    spool_depth: int
    spool_bytes: int
    dropped: _containers.ScalarMap[str, int]
    agent_version: str
    policy_version: int
    def __init__(self, cpu_percent: _Optional[float] = ..., rss_bytes: _Optional[int] = ..., spool_depth: _Optional[int] = ..., spool_bytes: _Optional[int] = ..., dropped: _Optional[_Mapping[str, int]] = ..., agent_version: _Optional[str] = ..., policy_version: _Optional[int] = ...) -> None: ...

class ConsoleMessage(_message.Message):
    __slots__ = ("ack", "policy", "command")
    ACK_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ack: Ack
    policy: Policy
    command: Command
    def __init__(self, ack: _Optional[_Union[Ack, _Mapping]] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("batch_id", "acked_through_seq", "rejected")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ACKED_THROUGH_SEQ_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    acked_through_seq: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedEvent]
    def __init__(self, batch_id: _Optional[int] = ..., acked_through_seq: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedEvent, _Mapping]]] = ...) -> None: ...

class RejectedEvent(_message.Message):
    __slots__ = ("seq", "reason")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    seq: int
    reason: str
    def __init__(self, seq: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("version", "capture_text", "capture_windows", "capture_web", "capture_screenshots", "excluded_applications", "prefilter_phrases", "screenshot_min_interval_seconds", "screenshot_max_width", "screenshot_quality", "screenshot_format", "byod", "school_hours", "school_networks", "heartbeat_seconds", "text_pause_seconds")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_WEB_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_SCREENSHOTS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    PREFILTER_PHRASES_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_MIN_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_QUALITY_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    BYOD_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_HOURS_FIELD_NUMBER: _ClassVar[int]
    SCHOOL_NETWORKS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_PAUSE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    version: int
    capture_text: bool
    capture_windows: bool
    capture_web: bool
    capture_screenshots: bool
    excluded_applications: _containers.RepeatedScalarFieldContainer[str]
    prefilter_phrases: _containers.RepeatedScalarFieldContainer[str]
    screenshot_min_interval_seconds: int
    screenshot_max_width: int
    screenshot_quality: int
    screenshot_format: str
    byod: bool
    school_hours: _containers.RepeatedCompositeFieldContainer[SchoolHours]
    school_networks: _containers.RepeatedScalarFieldContainer[str]
    heartbeat_seconds: int
    text_pause_seconds: int
    def __init__(self, version: _Optional[int] = ..., capture_text: _Optional[bool] = ..., capture_windows: _Optional[bool] = ..., capture_web: _Optional[bool] = ..., capture_screenshots: _Optional[bool] = ..., excluded_applications: _Optional[_Iterable[str]] = ..., prefilter_phrases: _Optional[_Iterable[str]] = ..., screenshot_min_interval_seconds: _Optional[int] = ..., screenshot_max_width: _Optional[int] = ..., screenshot_quality: _Optional[int] = ..., screenshot_format: _Optional[str] = ..., byod: _Optional[bool] = ..., school_hours: _Optional[_Iterable[_Union[SchoolHours, _Mapping]]] = ..., school_networks: _Optional[_Iterable[str]] = ..., heartbeat_seconds: _Optional[int] = ..., text_pause_seconds: _Optional[int] = ...) -> None: ...

class SchoolHours(_message.Message):
    __slots__ = ("weekday", "start", "end")
    WEEKDAY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    weekday: int
    start: str
    end: str
    def __init__(self, weekday: _Optional[int] = ..., start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("command_id", "take_screenshot")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    TAKE_SCREENSHOT_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    take_screenshot: TakeScreenshot
    def __init__(self, command_id: _Optional[str] = ..., take_screenshot: _Optional[_Union[TakeScreenshot, _Mapping]] = ...) -> None: ...

class TakeScreenshot(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("command_id", "ok", "detail")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    ok: bool
    detail: str
    def __init__(self, command_id: _Optional[str] = ..., ok: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...
