from safereflect.cli import main

main()
