import { Link } from "react-router";
import { useTitle } from "../lib/useTitle";

export default function NotFound() {
  useTitle("Page not found");
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        There is no page at this address. Use the search box, browse the <Link to="/catalog">catalog</Link>, or go to your{" "}
        <Link to="/">dashboard</Link>.
      </p>
    </div>
  );
}
