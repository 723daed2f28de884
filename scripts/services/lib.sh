# Helpers shared by the service scripts. Source it.
port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-
}
wait_port() { # host port seconds name
  local deadline=$((SECONDS + $3))
  until port_open "$1" "$2"; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "services: $4 did not open $1:$2 within $3 s" >&2; return 1; fi
    sleep 0.5
  done
}
