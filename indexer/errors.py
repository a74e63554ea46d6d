"""Domain exceptions. Only the shells (CLI, web) turn them into exit codes and statuses."""


class MedsearchError(Exception):
    """Base class for every error medsearch reports to a user."""


class ExtractionError(MedsearchError):
    """A page could not be read or parsed into a record."""


class NotAnArticle(ExtractionError):
    """A page holds no article: no labelled fields, no title or no PubMed ID."""


class IndexMissing(MedsearchError):
    """There is no index where one was expected."""


class IndexDamaged(MedsearchError):
    """A file of the live index is missing, cut or corrupt: it needs a rebuild."""


class IndexLocked(MedsearchError):
    """Another build or update holds the index."""


class VocabularyError(MedsearchError):
    """The MeSH descriptor file given for a build cannot be read."""


class BuildFailed(MedsearchError):
    """A build could not produce a verified index; the live one is untouched."""


class QueryError(MedsearchError):
    """A search request has a bad parameter."""


class ArticleNotFound(MedsearchError):
    """No article has that PMID."""


class Busy(MedsearchError):
    """Other searches held the index until this one's time limit ran out."""

    retry_after = 1  # seconds a refused caller is told to wait before trying again


class CannotServe(MedsearchError):
    """The site cannot be served as asked (address in use, bad public URL)."""


class ClusterError(MedsearchError):
    """The local SolrCloud cluster cannot be started, reached or stopped as asked."""


class SemanticUnavailable(MedsearchError):
    """The embedding model is not installed or cannot load: ranking stays lexical."""
