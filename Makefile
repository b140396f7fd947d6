# Installs ftptrigger, its man page and shell completions.
#   make install                  # under /usr/local
#   make install PREFIX=/usr DESTDIR=/tmp/pkg   # for packaging
PREFIX ?= /usr/local
BIN := $(DESTDIR)$(PREFIX)/bin/ftptrigger

.PHONY: install uninstall

install:
	cargo install --locked --path . --root $(DESTDIR)$(PREFIX) --no-track
	install -Dm644 man/ftptrigger.1 $(DESTDIR)$(PREFIX)/share/man/man1/ftptrigger.1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BIN) completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ftptrigger
	$(BIN) completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ftptrigger
	$(BIN) completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/ftptrigger.fish

uninstall:
	rm -f $(BIN) $(DESTDIR)$(PREFIX)/share/man/man1/ftptrigger.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ftptrigger \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ftptrigger \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/ftptrigger.fish
