// The approvals inbox: runs waiting for a stage the signed-in user may approve (never their own).
import { Link } from "react-router";
import { runUrl, useInbox } from "../../api/actions";
import { RefLink } from "../../components/EntityLink";
import { Empty, ErrorMessage, Loading } from "../../components/Status";
import { timeAgo } from "../../lib/words";
import { useTitle } from "../../lib/useTitle";

export default function ApprovalsPage() {
  const { data, error, isPending, refetch } = useInbox();
  useTitle("Approvals");
  return (
    <div className="page">
      <header className="page-header">
        <p className="breadcrumbs">
          <Link to="/actions">Actions</Link>
        </p>
        <h1>
          Approvals inbox {data && <span className="count">{data.items.length}</span>}
        </h1>
        <p className="lead">Runs waiting for a decision you may make. Open one to approve or reject it with a comment.</p>
      </header>
      {isPending ? (
        <Loading label="Loading your inbox" />
      ) : error ? (
        <ErrorMessage error={error} retry={() => void refetch()} />
      ) : data.items.length === 0 ? (
        <Empty>Nothing waits for you. Runs appear here when a stage you approve for opens (your own runs never do).</Empty>
      ) : (
        <ul className="results">
          {data.items.map(({ run, stage, required, approved }) => (
            <li key={`${run.namespace}/${run.name}`} className="result">
              <p className="result-title">
                <Link to={runUrl(run)}>{run.actionTitle ?? run.action}</Link>
                {run.target && (
                  <>
                    {" "}
                    on <RefLink refString={run.target} />
                  </>
                )}
              </p>
              <p className="small">
                Requested by <strong>{run.requester}</strong> {timeAgo(run.createdAt)} · stage <strong>{stage}</strong>: {approved} of {required} approval{required === 1 ? "" : "s"} · {run.namespace}/{run.name}
              </p>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
