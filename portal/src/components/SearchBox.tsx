// The global search box: typeahead (ARIA combobox), arrow keys to move, Enter to open, Escape to
// close; Enter with nothing highlighted opens the results page. "/" focuses it from anywhere.
import { useEffect, useId, useRef, useState } from "react";
import { useNavigate } from "react-router";
import { useTypeahead } from "../api/queries";
import { entityPath, kindLabel } from "../lib/refs";

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function SearchBox() {
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const debounced = useDebounced(text, 120);
  const { data, isFetching, error } = useTypeahead(debounced);
  const navigate = useNavigate();
  const input = useRef<HTMLInputElement>(null);
  const listId = useId();
  const items = debounced.trim() ? (data?.items ?? []) : [];
  const expanded = open && text.trim().length > 0;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
      if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        input.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => setActive(-1), [debounced]);

  const go = (path: string) => {
    setOpen(false);
    setActive(-1);
    navigate(path);
  };
  const submit = () => {
    const q = text.trim();
    const chosen = active >= 0 ? items[active] : undefined;
    if (chosen) {
      setText("");
      go(entityPath(chosen));
    } else if (q) {
      go(`/search?q=${encodeURIComponent(q)}`);
    }
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLInputElement>) => {
    switch (e.key) {
      case "ArrowDown":
        e.preventDefault();
        setOpen(true);
        setActive((a) => (items.length ? (a + 1) % items.length : -1));
        break;
      case "ArrowUp":
        e.preventDefault();
        setOpen(true);
        setActive((a) => (items.length ? (a <= 0 ? items.length - 1 : a - 1) : -1));
        break;
      case "Enter":
        e.preventDefault();
        submit();
        break;
      case "Escape":
        if (expanded) {
          e.preventDefault();
          setOpen(false);
          setActive(-1);
        } else {
          setText("");
        }
        break;
    }
  };

  const optionId = (i: number) => `${listId}-opt-${i}`;
  return (
    <form
      className="searchbox"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label htmlFor={`${listId}-input`} className="visually-hidden">
        Search the catalog
      </label>
      <input
        ref={input}
        id={`${listId}-input`}
        type="search"
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={expanded}
        aria-controls={listId}
        aria-activedescendant={expanded && active >= 0 ? optionId(active) : undefined}
        placeholder="Search services, APIs, teams…  ( / )"
        autoComplete="off"
        spellCheck={false}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
        }}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={onKeyDown}
      />
      <ul id={listId} role="listbox" aria-label="Suggestions" className="typeahead" hidden={!expanded}>
        {error ? (
          <li className="typeahead-note" role="presentation">Search is unavailable: {(error as Error).message}</li>
        ) : items.length === 0 ? (
          <li className="typeahead-note" role="presentation">
            {isFetching || debounced !== text ? "Searching…" : "No matches. Press Enter for the results page."}
          </li>
        ) : (
          items.map((item, i) => (
            <li
              key={item.ref}
              id={optionId(i)}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                setText("");
                go(entityPath(item));
              }}
              onMouseEnter={() => setActive(i)}
            >
              <span className="kind">{kindLabel(item.kind)}</span>
              <span className="typeahead-title">{item.title || item.name}</span>
              <span className="muted small">{item.namespace}</span>
            </li>
          ))
        )}
        {items.length > 0 && data && data.total > items.length && (
          <li className="typeahead-note" role="presentation">
            {data.total} matches — Enter shows them all
          </li>
        )}
      </ul>
    </form>
  );
}
