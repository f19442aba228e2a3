from tests.integration.conftest import radclient_bin, radmfa_factory  # noqa: F401 (fixtures)
from tests.integration.phone_env import peers  # noqa: F401 (fixture)
from tests.portal.browser import chromium  # noqa: F401 (fixture)
