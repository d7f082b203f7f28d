"""`scaffold new` as a library: turn a model config or an exported model into a Pipeline
service folder.

    from generator.scaffold import NewServiceRequest, plan_service, create_service

    plan = plan_service(NewServiceRequest(config=Path("serving_configs/yolov3.yml")))
    result = create_service(plan)   # -> ./<name>_serving/
"""

from generator.scaffold.errors import ScaffoldConfigError, ScaffoldError
from generator.scaffold.new_service import (
    NewServiceRequest,
    ServicePlan,
    ServiceResult,
    create_service,
    new_service,
    plan_service,
)
from generator.scaffold.settings import ServiceSettings, parse_service_section

__all__ = [
    "NewServiceRequest",
    "ScaffoldConfigError",
    "ScaffoldError",
    "ServicePlan",
    "ServiceResult",
    "ServiceSettings",
    "create_service",
    "new_service",
    "parse_service_section",
    "plan_service",
]
