# Builds and installs ftptrigger: the binary, its man page, shell completions, and under
# share/doc/ftptrigger the example config and the FTP server recipes (contrib/).
#   make                                        # build, as yourself (root needs no toolchain)
#   sudo make install                           # install what `make` built, under /usr/local
#   sudo make install BIN=/path/to/ftptrigger   # install a binary built elsewhere
#   make install PREFIX=/usr DESTDIR=/tmp/pkg   # stage a package
#   sudo make uninstall
PREFIX ?= /usr/local
BIN ?= target/release/ftptrigger
DEST := $(DESTDIR)$(PREFIX)
DOC := $(DEST)/share/doc/ftptrigger

.PHONY: all install uninstall

all:
	cargo build --release --locked

install:
	@test -x "$(BIN)" || { echo "make install: $(BIN) is not built: run 'make' first (as yourself), or give BIN=path/to/ftptrigger" >&2; exit 1; }
	install -Dm755 "$(BIN)" $(DEST)/bin/ftptrigger
	install -Dm644 man/ftptrigger.1 $(DEST)/share/man/man1/ftptrigger.1
	install -d $(DEST)/share/bash-completion/completions $(DEST)/share/zsh/site-functions $(DEST)/share/fish/vendor_completions.d
	"$(BIN)" completions bash > $(DEST)/share/bash-completion/completions/ftptrigger
	"$(BIN)" completions zsh > $(DEST)/share/zsh/site-functions/_ftptrigger
	"$(BIN)" completions fish > $(DEST)/share/fish/vendor_completions.d/ftptrigger.fish
	install -Dm644 ftpscanner.cfg.example $(DOC)/ftpscanner.cfg.example
	install -d $(DOC)/contrib
	cp -R contrib/. $(DOC)/contrib/

uninstall:
	rm -f $(DEST)/bin/ftptrigger $(DEST)/share/man/man1/ftptrigger.1 \
	  $(DEST)/share/bash-completion/completions/ftptrigger \
	  $(DEST)/share/zsh/site-functions/_ftptrigger \
	  $(DEST)/share/fish/vendor_completions.d/ftptrigger.fish
	rm -rf $(DOC)
