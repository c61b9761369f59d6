"""Our tests see the built-ins and this distribution only, whatever else is installed: another
plugin offering a `softplus` repulsion would make the bare name an error (docs/plugins/index.md)."""
import os

os.environ["GAN_UNLEARN_LOAD_PLUGINS"] = "gan-unlearn-example"
