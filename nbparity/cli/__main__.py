from nbparity.cli import console_main

console_main()
