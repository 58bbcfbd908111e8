# Writes OUT, a header defining RAFT_GIT_REVISION as the short revision of
# the checkout at SRC ("-dirty" with uncommitted changes, "unknown" outside
# git). Run at every build (not only at configure time), so --version never
# names an older commit; the file is rewritten only when the text changes,
# so an unchanged revision rebuilds nothing.
execute_process(COMMAND git describe --always --dirty --abbrev=7
                WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE revision
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT revision)
  set(revision unknown)
endif()
set(text "#pragma once\n#define RAFT_GIT_REVISION \"${revision}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
