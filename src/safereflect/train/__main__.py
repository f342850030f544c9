"""`python -m safereflect.train ...` = `safereflect train ...`; the entry torchrun launches:

torchrun --nproc_per_node 8 -m safereflect.train --data ARM --preset 125m --out RUN
"""

from safereflect.cli.train import standalone_main

standalone_main()
